// Boas Práticas Assistant: how an answer is drawn, shared by the web page and the Zendesk sidebar.
// Plain JS, no dependencies, no build step. The one source is assistant/http/static/answer-render.js;
// sidebar/assets/answer-render.js is a byte-identical copy because the sidebar is its own Zendesk
// bundle (`make sync-sidebar` copies it; a test fails when the two differ).
// Every text from the server is inserted with textContent: never innerHTML.
(function () {
  "use strict";

  function byId(id) {
    return document.getElementById(id);
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // An answer from a server without `outcome` (older API): abstained means refusal.
  function outcomeOf(answer) {
    return answer.outcome || (answer.abstained ? "refusal" : "answer");
  }

  // The answer's lines, one list item each (the server's `lines`; else the text's lines).
  function answerLines(answer) {
    if (answer.lines && answer.lines.length) return answer.lines;
    return String(answer.answer || "")
      .split("\n")
      .filter(function (line) {
        return line.trim();
      })
      .map(function (line) {
        return { text: line, n: null, url: null };
      });
  }

  // Where the two pages differ, as options:
  //   relativeLinks: relative URLs resolve against the page (the web page, served by bpa itself);
  //     without it only absolute URLs are links (the sidebar's own URL is Zendesk's, not bpa's).
  //   markerTitles: a [n] marker shows its citation's "title › section" on hover.
  //   lineClass: the class of each answer line's list item.
  function renderer(options) {
    var opts = options || {};

    // Only http(s) links are made clickable (no javascript: or data: URLs).
    function safeUrl(url) {
      try {
        var parsed = opts.relativeLinks ? new URL(String(url), window.location.href) : new URL(String(url));
        return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
      } catch (e) {
        return null;
      }
    }

    // Links open in a new tab: the page (or the sidebar, on its ticket) stays where it is.
    function link(url, text, className) {
      var href = safeUrl(url);
      if (!href) return el("span", className, text);
      var a = el("a", className, text);
      a.href = href;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      return a;
    }

    // "texto [1]. mais [2]." -> text nodes with [n] markers linked to citation n.
    function renderAnswerText(container, text, citations) {
      var byNumber = {};
      citations.forEach(function (c) {
        byNumber[c.n] = c;
      });
      var pattern = /\[(\d+)\]/g;
      var last = 0;
      var match;
      while ((match = pattern.exec(text)) !== null) {
        container.appendChild(document.createTextNode(text.slice(last, match.index)));
        var citation = byNumber[Number(match[1])];
        if (citation) {
          var marker = link(citation.url, match[0], "cite-marker");
          if (opts.markerTitles) marker.title = citation.title + " › " + citation.section;
          container.appendChild(marker);
        } else {
          container.appendChild(document.createTextNode(match[0]));
        }
        last = pattern.lastIndex;
      }
      container.appendChild(document.createTextNode(text.slice(last)));
    }

    function renderLines(container, answer, citations) {
      var list = el("ul", "answer-lines");
      answerLines(answer).forEach(function (line) {
        var item = el("li", opts.lineClass);
        if (line.n === null) {
          renderAnswerText(item, line.text, citations); // fallback: markers are in the text
        } else if (line.url) {
          item.appendChild(link(line.url, line.text, "article-link")); // a linked article, by its title
          renderAnswerText(item, " [" + line.n + "]", citations);
        } else {
          renderAnswerText(item, line.text + " [" + line.n + "]", citations);
        }
        list.appendChild(item);
      });
      container.appendChild(list);
    }

    return { safeUrl: safeUrl, link: link, renderAnswerText: renderAnswerText, renderLines: renderLines };
  }

  // --- "Sinalizar": flag a section (desatualizado, incorreto, incompleto, outro) -----------------
  var FLAG_REASONS = [
    ["desatualizado", "Desatualizado"],
    ["incorreto", "Incorreto"],
    ["incompleto", "Incompleto"],
    ["outro", "Outro motivo"],
  ];
  var FLAG_COMMENT_CHARS = 500;
  var flagForms = 0;

  // One id per opened form: sending the same form twice (a double click, a retry) is recorded once.
  function requestId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map
      .call(bytes, function (b) {
        return (b + 256).toString(16).slice(1);
      })
      .join("");
  }

  function button(text, className) {
    var node = el("button", className, text);
    node.type = "button";
    return node;
  }

  // A row of small buttons (``leading`` first, then "Sinalizar"), the flag form it opens and a
  // status line. ``target``: {chunk_id, snapshot[, ticket_id]}; ``send(body)``: the page's own
  // POST to /v1/flags, a promise rejecting with the message to show; ``onResize``: called when
  // the block grows or shrinks (the sidebar's iframe is sized to its content).
  function sectionActions(target, send, leading, onResize) {
    var resized = onResize || function () {};
    flagForms += 1;
    var id = "flag-form-" + flagForms;
    var wrap = el("div", "kcs");
    var row = el("div", "kcs-actions");
    (leading || []).forEach(function (b) {
      row.appendChild(b);
    });
    var toggle = button("Sinalizar", "flag-toggle small secondary");
    toggle.setAttribute("aria-expanded", "false");
    toggle.setAttribute("aria-controls", id);
    row.appendChild(toggle);
    wrap.appendChild(row);

    var form = el("form", "flag-form");
    form.id = id;
    form.hidden = true;
    form.noValidate = true;
    var reasonLabel = el("label", null, "Motivo");
    reasonLabel.htmlFor = id + "-reason";
    var reason = el("select", "flag-reason");
    reason.id = id + "-reason";
    FLAG_REASONS.forEach(function (r) {
      var option = el("option", null, r[1]);
      option.value = r[0];
      reason.appendChild(option);
    });
    var commentLabel = el("label", null, "Comentário (opcional)");
    commentLabel.htmlFor = id + "-comment";
    var comment = el("textarea", "flag-comment");
    comment.id = id + "-comment";
    comment.rows = 2;
    comment.maxLength = FLAG_COMMENT_CHARS;
    var submit = el("button", "flag-send small", "Enviar");
    submit.type = "submit";
    var cancel = button("Cancelar", "flag-cancel small secondary");
    [reasonLabel, reason, commentLabel, comment, submit, cancel].forEach(function (n) {
      form.appendChild(n);
    });
    wrap.appendChild(form);
    var status = el("p", "kcs-status");
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    wrap.appendChild(status);

    var rid = null;
    function setStatus(text, isError) {
      status.textContent = text || "";
      status.classList.toggle("error", Boolean(isError));
      resized();
    }
    function close() {
      form.hidden = true;
      toggle.setAttribute("aria-expanded", "false");
      toggle.focus();
      resized();
    }
    toggle.addEventListener("click", function () {
      if (!form.hidden) return close();
      rid = requestId();
      form.hidden = false;
      toggle.setAttribute("aria-expanded", "true");
      setStatus("", false);
      reason.focus();
      resized();
    });
    cancel.addEventListener("click", close);
    form.addEventListener("keydown", function (event) {
      if (event.key === "Escape") close();
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = comment.value.trim();
      var body = { chunk_id: target.chunk_id, snapshot: target.snapshot, reason: reason.value, comment: text || null };
      if (target.ticket_id) body.ticket_id = target.ticket_id;
      body.request_id = rid;
      submit.disabled = true;
      Promise.resolve()
        .then(function () {
          return send(body);
        })
        .then(function () {
          form.hidden = true;
          toggle.textContent = "Sinalizada";
          toggle.disabled = true;
          toggle.setAttribute("aria-expanded", "false");
          setStatus("Seção sinalizada. Obrigado!", false);
        })
        .catch(function (error) {
          setStatus(error && error.message ? error.message : String(error), true);
        })
        .then(function () {
          submit.disabled = false;
        });
    });
    return { node: wrap, setStatus: setStatus };
  }

  window.bpaRender = {
    byId: byId,
    el: el,
    outcomeOf: outcomeOf,
    answerLines: answerLines,
    renderer: renderer,
    button: button,
    sectionActions: sectionActions,
  };
})();
