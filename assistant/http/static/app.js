// Boas Práticas Assistant: the question page. Plain JS, no dependencies.
// Every text from the server is inserted with textContent: never innerHTML.
(function () {
  "use strict";

  var KEY_STORAGE = "bpa.apiKey";
  var GENERIC_ERROR = "Não foi possível falar com o servidor. Tente novamente.";

  var render = window.bpaRender; // answer-render.js, loaded before this file
  var byId = render.byId;
  var el = render.el;
  var outcomeOf = render.outcomeOf;
  // bpa serves this page, so relative links (/d/...) resolve against it; markers name their section.
  var answers = render.renderer({ relativeLinks: true, markerTitles: true, lineClass: "answer-line" });
  var link = answers.link;
  var renderLines = answers.renderLines;

  function readApiKey() {
    try {
      return window.localStorage.getItem(KEY_STORAGE) || "";
    } catch (e) {
      return "";
    }
  }

  function saveApiKey(value) {
    try {
      if (value) window.localStorage.setItem(KEY_STORAGE, value);
      else window.localStorage.removeItem(KEY_STORAGE);
    } catch (e) {
      /* storage unavailable: the key is used for this page only */
    }
  }

  function apiPost(path, body) {
    var headers = { "Content-Type": "application/json", "X-BPA-Channel": "web" };
    var key = byId("api-key").value.trim();
    if (key) headers["X-API-Key"] = key;
    return fetch(path, { method: "POST", headers: headers, body: JSON.stringify(body) }).then(
      function (response) {
        return response
          .json()
          .catch(function () {
            return null;
          })
          .then(function (data) {
            if (response.ok) return data;
            var message = data && data.error && data.error.message ? data.error.message : GENERIC_ERROR;
            throw new Error(message);
          });
      }
    );
  }

  function setStatus(text, isError) {
    var status = byId("status");
    status.textContent = text || "";
    status.classList.toggle("error", Boolean(isError));
  }

  var OUTCOME_TITLES = { answer: "Resposta", pointer: "Sem resposta direta", refusal: "Sem resposta" };

  var currentSnapshot = null; // the answer's snapshot: flags name it

  // "Sinalizar" under a section: the shared flag form, sent to /v1/flags.
  function flagActions(citation) {
    var target = { chunk_id: citation.chunk_id, snapshot: currentSnapshot };
    return render.sectionActions(target, function (body) {
      return apiPost("/v1/flags", body);
    }).node;
  }

  function citationItem(citation, numbered) {
    var item = el("li", "citation");
    if (numbered) item.value = citation.n;
    item.dataset.n = String(citation.n);
    var heading = el("div", "citation-heading");
    heading.appendChild(link(citation.url, citation.title + " › " + citation.section, "citation-link"));
    item.appendChild(heading);
    item.appendChild(el("blockquote", "excerpt", citation.excerpt));
    if (citation.chunk_id && currentSnapshot) item.appendChild(flagActions(citation));
    return item;
  }

  function renderCitations(citations) {
    var list = byId("citations");
    list.textContent = "";
    citations.forEach(function (c) {
      list.appendChild(citationItem(c, true));
    });
    list.hidden = citations.length === 0;
    byId("citations-title").hidden = citations.length === 0;
  }

  // The nearest sections, as links (pointer and refusal).
  function renderSuggestions(suggestions) {
    var list = byId("suggestions");
    list.textContent = "";
    suggestions.forEach(function (c) {
      var item = el("li", "suggestion");
      item.appendChild(link(c.url, c.title + " › " + c.section, "citation-link"));
      if (c.chunk_id && currentSnapshot) item.appendChild(flagActions(c));
      list.appendChild(item);
    });
    list.hidden = suggestions.length === 0;
  }

  // Three outcomes, shown apart: cited lines (answer); a pointer to the nearest sections,
  // never styled as an answer (pointer); a plain refusal. Confidence in words, no percentage.
  function renderAnswer(answer) {
    var outcome = outcomeOf(answer);
    var citations = outcome === "answer" ? answer.citations || [] : [];
    currentSnapshot = answer.snapshot || null;
    var container = byId("answer");
    container.textContent = "";
    container.className = "answer outcome-" + outcome;
    byId("result").dataset.outcome = outcome;
    byId("result-title").textContent = OUTCOME_TITLES[outcome] || OUTCOME_TITLES.answer;
    if (outcome === "answer") {
      renderLines(container, answer, citations);
    } else {
      // The lead sentence ("A documentação não responde isso diretamente. O mais próximo:" or
      // "Não encontrei isso nas Boas Práticas."), then the sections as links.
      var lead = String(answer.answer || "").split("\n")[0];
      container.appendChild(el("p", outcome === "pointer" ? "pointer" : "refusal", lead));
    }
    renderSuggestions(outcome === "answer" ? [] : answer.suggestions || []);
    var label = answer.confidence_label ? "Confiança " + answer.confidence_label + " · " : "";
    byId("confidence").textContent = (outcome === "refusal" ? "" : label) + "índice " + answer.snapshot;
    renderCitations(citations);
    resetFeedback(answer.answer_id);
    byId("result").hidden = false;
  }

  var currentAnswerId = null;

  function resetFeedback(answerId) {
    currentAnswerId = answerId;
    byId("feedback-up").disabled = false;
    byId("feedback-down").disabled = false;
    byId("feedback-status").textContent = "";
  }

  function sendFeedback(helpful) {
    if (!currentAnswerId) return;
    byId("feedback-up").disabled = true;
    byId("feedback-down").disabled = true;
    apiPost("/v1/feedback", { answer_id: currentAnswerId, helpful: helpful, comment: null })
      .then(function () {
        byId("feedback-status").textContent = "Obrigado pelo retorno!";
      })
      .catch(function (error) {
        byId("feedback-status").textContent = error.message;
        byId("feedback-up").disabled = false;
        byId("feedback-down").disabled = false;
      });
  }

  function ask(event) {
    event.preventDefault();
    var question = byId("question").value.trim();
    if (!question) {
      setStatus("Escreva uma pergunta.", true);
      return;
    }
    saveApiKey(byId("api-key").value.trim());
    byId("ask-button").disabled = true;
    setStatus("Procurando na documentação…", false);
    apiPost("/v1/ask", { question: question })
      .then(function (answer) {
        setStatus("", false);
        renderAnswer(answer);
      })
      .catch(function (error) {
        setStatus(error.message, true);
      })
      .then(function () {
        byId("ask-button").disabled = false;
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    byId("api-key").value = readApiKey();
    byId("ask-form").addEventListener("submit", ask);
    byId("feedback-up").addEventListener("click", function () {
      sendFeedback(true);
    });
    byId("feedback-down").addEventListener("click", function () {
      sendFeedback(false);
    });
  });
})();
