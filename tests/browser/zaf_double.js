// Test double of the Zendesk Apps Framework client (the real SDK cannot load offline).
// It answers get() with a canned ticket and forwards request() to the live test server
// with fetch, filling secure-setting placeholders as Zendesk's proxy would. The comment box is
// window.__zafComment: what ticket.comment.appendHtml/appendText appended, in order; set
// window.__zafRichText = false before the app starts for a plain-text editor.
(function () {
  "use strict";
  var SECURE_SETTINGS = { api_key: "chave-do-zendesk" };
  var TICKET = {
    "ticket.id": 4321,
    "ticket.subject": "Cliente parado há 3 dias sem retorno",
    "ticket.description": "O cliente não responde desde segunda. Já fiz duas interações públicas.",
    "ticket.tags": ["protheus", "cliente_parado"],
  };
  var calls = { metadata: 0, get: [], request: [], invoke: [] };
  window.__zafCalls = calls;
  window.__zafComment = { html: "", text: "" };

  function fillSecure(value) {
    return String(value).replace(/\{\{setting\.(\w+)\}\}/g, function (_, name) {
      return SECURE_SETTINGS[name] || "";
    });
  }

  var client = {
    metadata: function () {
      calls.metadata += 1;
      return Promise.resolve({ settings: { api_url: window.location.origin + "/" } });
    },
    get: function (paths) {
      calls.get.push(paths);
      var out = {};
      [].concat(paths).forEach(function (path) {
        out[path] = path === "ticket.comment.useRichText" ? window.__zafRichText !== false : TICKET[path];
      });
      return Promise.resolve(out);
    },
    request: function (options) {
      calls.request.push(JSON.parse(JSON.stringify(options)));
      var headers = { "Content-Type": options.contentType };
      Object.keys(options.headers || {}).forEach(function (name) {
        headers[name] = options.secure ? fillSecure(options.headers[name]) : options.headers[name];
      });
      return fetch(options.url, { method: options.type, headers: headers, body: options.data }).then(function (r) {
        return r.text().then(function (text) {
          if (r.ok) return options.dataType === "json" ? JSON.parse(text) : text;
          var failure = { status: r.status, responseText: text };
          try {
            failure.responseJSON = JSON.parse(text);
          } catch (e) {
            /* not JSON */
          }
          throw failure;
        });
      });
    },
    invoke: function (name, arg) {
      calls.invoke.push([name, arg]);
      if (name === "ticket.comment.appendHtml") window.__zafComment.html += arg;
      if (name === "ticket.comment.appendText") window.__zafComment.text += arg;
      return Promise.resolve({});
    },
  };

  window.ZAFClient = {
    init: function () {
      return client;
    },
  };
})();
