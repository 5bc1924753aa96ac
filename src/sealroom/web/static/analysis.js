// The analysis page: polls the job, then draws the masked result. Everything is built with
// textContent and SVG attributes from the result's JSON: no markup from data, and no image.
"use strict";

(function () {
  var root = document.getElementById("analysis");
  if (!root) {
    return;
  }
  var jobId = root.dataset.job;
  var SVG = "http://www.w3.org/2000/svg";

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    if (cls) {
      node.className = cls;
    }
    return node;
  }

  function row(tbody, cells) {
    var tr = document.createElement("tr");
    cells.forEach(function (cell) {
      tr.appendChild(el("td", cell));
    });
    tbody.appendChild(tr);
  }

  function svg(tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (name) {
      node.setAttribute(name, String(attrs[name]));
    });
    return node;
  }

  function kindClass(type) {
    return "k-" + String(type).toLowerCase().replace(/[^a-z0-9]+/g, "-");
  }

  function drawPage(container, page, boxes) {
    var figure = el("figure", null, "layout-page");
    var drawing = svg("svg", {
      viewBox: "0 0 " + page.width + " " + page.height,
      role: "img",
      "aria-label": "Layout of page " + (page.index + 1) + ": " + boxes.length + " regions",
    });
    drawing.appendChild(svg("rect", {x: 0, y: 0, width: page.width, height: page.height, class: "sheet"}));
    boxes.forEach(function (box) {
      var b = box.bbox;
      var width = Math.max(1, b[2] - b[0]);
      var height = Math.max(1, b[3] - b[1]);
      var group = svg("g", {class: "region " + box.cls});
      group.appendChild(svg("rect", {x: b[0], y: b[1], width: width, height: height}));
      if (box.inside && box.text) {
        // The (masked) text set into its box, squeezed to the box's width: a readable wireframe.
        var content = svg("text", {
          x: b[0] + 1, y: b[3] - height * 0.22, "font-size": height * 0.78,
          textLength: Math.max(1, width - 2), lengthAdjust: "spacingAndGlyphs",
        });
        content.textContent = box.text;
        group.appendChild(content);
      } else {
        var label = svg("text", {x: b[0] + 2, y: Math.max(12, b[1] - 3), "font-size": Math.max(12, page.height / 90)});
        label.textContent = box.label;
        group.appendChild(label);
      }
      var title = document.createElementNS(SVG, "title");
      title.textContent = box.label + ": " + box.text;
      group.appendChild(title);
      drawing.appendChild(group);
    });
    figure.appendChild(drawing);
    figure.appendChild(el("figcaption", "Page " + (page.index + 1)));
    container.appendChild(figure);
  }

  function render(result) {
    document.getElementById("r-type").textContent =
      result.document_type + " (" + Math.round((result.document_type_confidence || 0) * 100) + "%)";
    document.getElementById("r-pages").textContent = String(result.pages.length);
    document.getElementById("r-masked").textContent = result.masked ? "yes" : "no: you may see values in clear";
    document.getElementById("r-answer").textContent = result.answer || "";

    var fields = document.querySelector("#r-fields tbody");
    (result.fields || []).forEach(function (f) {
      row(fields, [f.name, f.value, f.page + 1]);
    });
    if (result.data) {
      var data = document.getElementById("r-data");
      data.textContent = JSON.stringify(result.data, null, 2);
      data.hidden = false;
    }
    var entities = document.querySelector("#r-entities tbody");
    (result.entities || []).forEach(function (e) {
      row(entities, [e.type, e.text, e.page + 1, Math.round(e.confidence * 100) + "%"]);
    });
    document.getElementById("r-text").textContent = result.text || "";

    var layout = document.getElementById("r-layout");
    result.pages.forEach(function (page) {
      var boxes = [];
      (page.regions || []).forEach(function (r) {
        boxes.push({bbox: r.bbox, label: "text", text: r.text, cls: "k-text", inside: true});
      });
      (result.fields || []).forEach(function (f) {
        if (f.page === page.index && f.bbox) {
          boxes.push({bbox: f.bbox, label: f.name, text: f.value, cls: "k-field"});
        }
      });
      (result.entities || []).forEach(function (e) {
        if (e.page === page.index && e.bbox) {
          boxes.push({bbox: e.bbox, label: e.type, text: e.text, cls: "k-entity " + kindClass(e.type)});
        }
      });
      drawPage(layout, page, boxes);
    });
    document.getElementById("progress").hidden = true;
    document.getElementById("result").hidden = false;
  }

  function fail(error) {
    document.getElementById("progress").hidden = true;
    document.getElementById("failure").hidden = false;
    document.getElementById("failure-text").textContent = error.message || "The analysis failed.";
    if (error.step_up) {
      document.getElementById("failure-step-up").hidden = false;
    }
  }

  function poll() {
    fetch("/api/v1/analysis-jobs/" + encodeURIComponent(jobId), {credentials: "same-origin", cache: "no-store"})
      .then(function (response) {
        if (response.status === 401) {
          window.location.assign("/login?notice=session_ended");
          return null;
        }
        return response.json().then(function (body) {
          return {ok: response.ok, body: body};
        });
      })
      .then(function (answer) {
        if (!answer) {
          return;
        }
        if (!answer.ok) {
          fail(answer.body);
          return;
        }
        var job = answer.body;
        document.dispatchEvent(new CustomEvent("sealroom:session-touched", {detail: {}}));
        if (job.status === "running") {
          document.getElementById("progress-text").textContent =
            "Working for " + Math.round(job.elapsed_seconds) + " s… the image is analysed inside the workspace.";
          window.setTimeout(poll, 1000);
        } else if (job.status === "done") {
          render(job.result);
        } else {
          fail(job.error || {});
        }
      })
      .catch(function () {
        window.setTimeout(poll, 3000);
      });
  }
  poll();
})();
