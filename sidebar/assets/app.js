// Boas Práticas Assistant — Zendesk ticket sidebar (ZAF v2). Plain JS, no build step.
// Every text from the server or the ticket is inserted with textContent: never innerHTML.
(function () {
  "use strict";

  var GENERIC_ERROR = "Não foi possível falar com o servidor do bpa.";
  var SNIPPET_CHARS = 240;
  var client = null;
  var apiUrl = "";

  var render = window.bpaRender; // answer-render.js, loaded before this file
  var byId = render.byId;
  var el = render.el;
  // Only absolute links: the sidebar's own URL is Zendesk's, so a relative one would go nowhere.
  var answers = render.renderer({ relativeLinks: false, markerTitles: false, lineClass: null });
  var link = answers.link;

  function shorten(text) {
    text = String(text || "").replace(/\s+/g, " ").trim();
    return text.length > SNIPPET_CHARS ? text.slice(0, SNIPPET_CHARS - 1) + "…" : text;
  }

  function setStatus(id, text, isError) {
    var node = byId(id);
    node.textContent = text || "";
    node.classList.toggle("error", Boolean(isError));
  }

  function resize() {
    var height = Math.min(document.body.scrollHeight + 16, 900);
    client.invoke("resize", { width: "100%", height: height + "px" });
  }

  function errorMessage(failure) {
    var data = failure && failure.responseJSON;
    if (!data && failure && failure.responseText) {
      try {
        data = JSON.parse(failure.responseText);
      } catch (e) {
        data = null;
      }
    }
    return data && data.error && data.error.message ? data.error.message : GENERIC_ERROR;
  }

  // Through Zendesk's proxy: the secure setting {{setting.api_key}} is filled in there,
  // never in the browser (the server's host must be in the manifest's domainWhitelist).
  function callApi(path, body) {
    return client
      .request({
        url: apiUrl + path,
        type: "POST",
        contentType: "application/json",
        dataType: "json",
        data: JSON.stringify(body),
        secure: true,
        headers: { "X-API-Key": "{{setting.api_key}}", "X-BPA-Channel": "zendesk" },
      })
      .then(function (response) {
        return typeof response === "string" ? JSON.parse(response) : response;
      });
  }

  // --- KCS: link, quote and flag a section ---------------------------------------------------
  var ticketId = null; // the open ticket's id (text), null outside a ticket

  function escapeHtml(text) {
    return String(text)
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      .replace(/'/g, "&#39;");
  }

  // "Title › Section", without repeating the title when the path is the title.
  function sectionLabel(ref) {
    var title = String(ref.title || "").trim();
    var section = String(ref.section || "").trim();
    if (!section || section === title) return title;
    if (!title || section.indexOf(title) === 0) return section;
    return title + " › " + section;
  }

  function linkHtml(ref) {
    var href = answers.safeUrl(ref.url);
    var text = escapeHtml(sectionLabel(ref));
    return href ? '<a href="' + escapeHtml(href) + '">' + text + "</a>" : text;
  }

  // What goes into the comment box: HTML when it is a rich-text editor, else plain text.
  // Every text is escaped; only http(s) links become links.
  function insertion(receipt, rich) {
    var ref = receipt.target;
    var plainRef = sectionLabel(ref) + " — " + ref.url;
    if (receipt.action !== "quote") return rich ? "<p>" + linkHtml(ref) + "</p>" : plainRef + "\n";
    var lines = String(receipt.quote || "")
      .split("\n")
      .map(function (line) {
        return line.trim();
      })
      .filter(Boolean);
    if (!rich) {
      return lines.map(function (line) {
        return "> " + line;
      }).join("\n") + "\nFonte: " + plainRef + "\n";
    }
    return "<blockquote>" + lines.map(escapeHtml).join("<br>") + "</blockquote><p>Fonte: " + linkHtml(ref) + "</p>";
  }

  // Recorded first (POST /v1/links: the server checks the section and masks the quote), then
  // appended by ZAF to the comment box as it stands (public reply or internal note).
  function insert(target, action, actions) {
    var body = { ticket_id: ticketId, chunk_id: target.chunk_id, snapshot: target.snapshot, action: action };
    if (action === "quote" && target.excerpt) body.excerpt = target.excerpt;
    var receipt = null;
    actions.setStatus(action === "quote" ? "Inserindo o trecho…" : "Inserindo o link…", false);
    return callApi("/v1/links", body)
      .then(function (result) {
        receipt = result;
        return client.get("ticket.comment.useRichText");
      })
      .then(function (data) {
        var rich = data["ticket.comment.useRichText"] !== false;
        var name = rich ? "ticket.comment.appendHtml" : "ticket.comment.appendText";
        return client.invoke(name, insertion(receipt, rich));
      })
      .then(function () {
        actions.setStatus(action === "quote" ? "Trecho inserido no comentário." : "Link inserido no comentário.", false);
      })
      .catch(function (failure) {
        var message = receipt ? "Não foi possível inserir no comentário do ticket." : errorMessage(failure);
        actions.setStatus(message, true);
      })
      .then(resize);
  }

  // "Inserir link", "Inserir trecho" (on a ticket) and "Sinalizar" under a section.
  function sectionActions(target) {
    var leading = [];
    var actions = null;
    if (ticketId) {
      var linkButton = render.button("Inserir link", "insert-link small");
      var quoteButton = render.button("Inserir trecho", "insert-quote small");
      linkButton.addEventListener("click", function () {
        insert(target, "link", actions);
      });
      quoteButton.addEventListener("click", function () {
        insert(target, "quote", actions);
      });
      leading = [linkButton, quoteButton];
    }
    var flagTarget = { chunk_id: target.chunk_id, snapshot: target.snapshot, ticket_id: ticketId };
    actions = render.sectionActions(
      flagTarget,
      function (body) {
        return callApi("/v1/flags", body).catch(function (failure) {
          throw new Error(errorMessage(failure));
        });
      },
      leading,
      resize
    );
    return actions.node;
  }

  // A 320-px sidebar: the section's own title first (the link), its path shortened
  // below in smaller type, whole on hover; then what the analyst can do with it.
  function sectionItem(hit, target) {
    var item = el("li");
    var parts = String(hit.section || "")
      .split(" › ")
      .filter(function (p) {
        return p.trim();
      });
    var own = parts.length ? parts[parts.length - 1] : hit.title;
    var whole = hit.title + (parts.length ? " › " + parts.join(" › ") : "");
    var anchor = link(hit.url, own, "section-link");
    anchor.title = whole;
    item.appendChild(anchor);
    var where = parts.slice(0, -1);
    var path = el("p", "section-path", where.length ? where.join(" › ") : hit.title);
    path.title = whole;
    item.appendChild(path);
    if (hit.text) item.appendChild(el("p", "snippet", shorten(hit.text)));
    if (target && target.chunk_id && target.snapshot) item.appendChild(sectionActions(target));
    return item;
  }

  function renderSuggestion(result) {
    var sections = byId("sections");
    var checklist = byId("checklist");
    sections.textContent = "";
    checklist.textContent = "";
    (result.results || []).forEach(function (hit) {
      // A suggestion's quote is its section's text (the server's, masked): no excerpt sent.
      sections.appendChild(sectionItem(hit, { chunk_id: hit.chunk_id, snapshot: result.snapshot }));
    });
    (result.checklist || []).forEach(function (text) {
      checklist.appendChild(el("li", null, text));
    });
    byId("checklist-block").hidden = (result.checklist || []).length === 0;
    setStatus(
      "status",
      (result.results || []).length ? "" : "Nenhuma seção da documentação se aplica a este ticket.",
      false
    );
  }

  function loadSuggestion() {
    setStatus("status", "Consultando a documentação…", false);
    return client
      .get(["ticket.id", "ticket.subject", "ticket.description", "ticket.tags"])
      .then(function (data) {
        var id = data["ticket.id"];
        ticketId = id === undefined || id === null || id === "" ? null : String(id);
        var body = {
          subject: data["ticket.subject"] || "",
          description: data["ticket.description"] || "",
          tags: data["ticket.tags"] || [],
        };
        if (ticketId) body.ticket_id = ticketId; // records that the app was opened on it
        return callApi("/v1/suggest", body);
      })
      .then(renderSuggestion)
      .catch(function (failure) {
        setStatus("status", errorMessage(failure), true);
      })
      .then(resize);
  }

  // Three outcomes, shown apart: cited lines (answer); a pointer to the nearest sections,
  // never styled as an answer (pointer); a plain refusal. Confidence in words only.
  function renderAnswer(answer) {
    var outcome = render.outcomeOf(answer);
    var citations = outcome === "answer" ? answer.citations || [] : [];
    var container = byId("answer");
    container.textContent = "";
    container.className = "answer outcome-" + outcome;
    byId("answer-block").dataset.outcome = outcome;
    if (outcome === "answer") {
      answers.renderLines(container, answer, citations);
    } else {
      var lead = String(answer.answer || "").split("\n")[0];
      container.appendChild(el("p", outcome === "pointer" ? "pointer" : "refusal", lead));
    }
    var shown = outcome === "answer" ? citations : answer.suggestions || [];
    var list = byId("citations");
    list.textContent = "";
    shown.forEach(function (c) {
      var excerpt = outcome === "answer" ? c.excerpt : "";
      // A citation's quote is its cited excerpt, verbatim; a nearest section's, its text.
      var target = { chunk_id: c.chunk_id, snapshot: answer.snapshot, excerpt: excerpt || null };
      list.appendChild(sectionItem({ url: c.url, title: c.title, section: c.section, text: excerpt }, target));
    });
    byId("confidence").textContent =
      outcome !== "refusal" && answer.confidence_label ? "Confiança " + answer.confidence_label : "";
    byId("answer-block").hidden = false;
    setStatus("ask-status", "", false);
  }

  function ask(event) {
    event.preventDefault();
    var question = byId("question").value.trim();
    if (!question) {
      setStatus("ask-status", "Escreva uma pergunta.", true);
      return;
    }
    byId("ask-button").disabled = true;
    setStatus("ask-status", "Procurando na documentação…", false);
    callApi("/v1/ask", { question: question })
      .then(renderAnswer)
      .catch(function (failure) {
        setStatus("ask-status", errorMessage(failure), true);
      })
      .then(function () {
        byId("ask-button").disabled = false;
        resize();
      });
  }

  function start() {
    if (typeof window.ZAFClient === "undefined") {
      setStatus("status", "Este app só funciona dentro do Zendesk.", true);
      return;
    }
    client = window.ZAFClient.init();
    byId("ask-form").addEventListener("submit", ask);
    byId("refresh").addEventListener("click", loadSuggestion);
    client
      .metadata()
      .then(function (metadata) {
        apiUrl = String((metadata.settings && metadata.settings.api_url) || "").replace(/\/+$/, "");
        if (!apiUrl) throw new Error("api_url");
        return loadSuggestion();
      })
      .catch(function () {
        setStatus("status", "Configure a URL do servidor bpa (api_url) nas configurações do app.", true);
        resize();
      });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
