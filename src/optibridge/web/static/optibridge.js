/* optibridge control panel: small progressive enhancements. Every page works without this
 * file: row buttons then post the form and the server makes the change; copy buttons stay
 * hidden (the URLs are in read-only fields, ready to select). */
(function () {
  "use strict";

  var announcer = document.getElementById("announcer");

  function announce(message) {
    if (!announcer) return;
    announcer.textContent = "";
    window.setTimeout(function () { announcer.textContent = message; }, 50);
  }

  function escapeRegExp(text) {
    return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }

  /* --- focus the message a page opens with (a problem, a test result) ------------------ */

  var focusTarget = document.querySelector("[data-focus-on-load]");
  if (focusTarget) {
    focusTarget.focus();
    // Going to the address's #fragment (a form that comes back to its card) can take the
    // focus away once the page has loaded: give it back.
    window.addEventListener("load", function () {
      if (document.activeElement !== focusTarget) focusTarget.focus();
    });
  }

  /* --- rows: add, remove, move up and down, without a round trip -------------------------- */

  function Rows(container) {
    this.container = container;
    this.list = container.getAttribute("data-rows");        // "livechat.field_mapping"
    this.dotted = new RegExp("(" + escapeRegExp(this.list) + "\\.)(\\d+|__i__)");
    this.dashed = new RegExp("(" + escapeRegExp(this.list.replace(/\./g, "-")) + "-)(\\d+|__i__)");
    this.ol = container.querySelector("[data-row-list]");
    this.template = container.querySelector("template[data-row-template]");
    this.empty = container.querySelector("[data-empty]");
  }

  Rows.prototype.rows = function () {
    return Array.prototype.slice.call(this.ol.children);
  };

  Rows.prototype.numbered = function (text, index) {
    function put(match, prefix) { return prefix + index; }
    return text
      .replace(new RegExp(this.dotted.source, "g"), put)
      .replace(new RegExp(this.dashed.source, "g"), put);
  };

  Rows.prototype.renumber = function () {
    var self = this;
    this.rows().forEach(function (row, index) {
      var elements = [row].concat(Array.prototype.slice.call(row.querySelectorAll("*")));
      elements.forEach(function (element) {
        ["name", "id", "for", "aria-describedby"].forEach(function (attribute) {
          var value = element.getAttribute(attribute);
          if (value) {
            element.setAttribute(attribute, self.numbered(value, index));
          }
        });
        if (element.hasAttribute("data-row-op")) {
          element.value = self.numbered(element.value, index);
        }
        if (element.hasAttribute("data-row-number")) {
          element.textContent = String(index + 1);
        }
      });
      var up = row.querySelector('[data-row-op="up"]');
      var down = row.querySelector('[data-row-op="down"]');
      if (up) up.disabled = index === 0;
      if (down) down.disabled = index === self.rows().length - 1;
    });
    if (this.empty) this.empty.hidden = this.rows().length > 0;
  };

  Rows.prototype.add = function () {
    var index = this.rows().length;
    var html = this.template.innerHTML.replace(/__i__/g, String(index)).replace(/__n__/g, String(index + 1));
    var holder = document.createElement("ol");
    holder.innerHTML = html.trim();
    var row = holder.firstElementChild;
    this.ol.appendChild(row);
    this.renumber();
    var first = row.querySelector("select, input");
    if (first) first.focus();
    announce("Row " + (index + 1) + " added.");
  };

  Rows.prototype.remove = function (row) {
    var rows = this.rows();
    var index = rows.indexOf(row);
    row.parentNode.removeChild(row);
    this.renumber();
    rows = this.rows();
    var next = rows[Math.min(index, rows.length - 1)];
    var target = next ? next.querySelector("select, input") : this.container.querySelector('[data-row-op="add"]');
    if (target) target.focus();
    announce("Row " + (index + 1) + " removed.");
  };

  Rows.prototype.move = function (row, direction, button) {
    var rows = this.rows();
    var index = rows.indexOf(row);
    var to = index + direction;
    if (to < 0 || to >= rows.length) return;
    if (direction < 0) {
      this.ol.insertBefore(row, rows[to]);
    } else {
      this.ol.insertBefore(row, rows[to].nextSibling);
    }
    this.renumber();
    row.classList.add("just-moved");
    window.setTimeout(function () { row.classList.remove("just-moved"); }, 600);
    var verb = button.getAttribute("data-row-op");
    var other = row.querySelector('[data-row-op="' + (verb === "up" ? "down" : "up") + '"]');
    (button.disabled ? other : button).focus();
    announce("Moved to row " + (to + 1) + ".");
  };

  Rows.prototype.dropSpares = function () {
    var self = this;
    this.rows().forEach(function (row) {
      if (row.hasAttribute("data-spare")) self.ol.removeChild(row);
    });
    this.renumber();
  };

  Array.prototype.forEach.call(document.querySelectorAll("[data-rows]"), function (container) {
    var rows = new Rows(container);
    if (!rows.ol || !rows.template) return;
    rows.dropSpares();
    container.addEventListener("click", function (event) {
      var button = event.target.closest("[data-row-op]");
      if (!button || !container.contains(button)) return;
      if (button.closest("[data-rows]") !== container) return;
      event.preventDefault();
      var op = button.getAttribute("data-row-op");
      var row = button.closest("[data-row]");
      if (op === "add") rows.add();
      else if (op === "remove" && row) rows.remove(row);
      else if (op === "up" && row) rows.move(row, -1, button);
      else if (op === "down" && row) rows.move(row, 1, button);
    });
  });

  /* --- forms that call another service: the button says so and can't be pressed twice ---- */

  /* The button that shows the form is busy: the one pressed, when it has a busy label; for
   * Enter in a field (the form's default button, or none), the one it names with
   * data-busy-shows, else the form's first button with a busy label. Other buttons (a row's
   * move, a preview) leave the form as it is. */
  function busyButton(form, submitter) {
    if (submitter && submitter.hasAttribute("data-busy-label")) return submitter;
    if (submitter && submitter.hasAttribute("data-busy-shows")) {
      return document.getElementById(submitter.getAttribute("data-busy-shows"));
    }
    return submitter ? null : form.querySelector("[data-busy-label]");
  }

  Array.prototype.forEach.call(document.querySelectorAll("form[data-busy]"), function (form) {
    var pressed = null;
    var idle = "";
    form.addEventListener("submit", function (event) {
      if (form.getAttribute("aria-busy") === "true") {
        event.preventDefault();
        return;
      }
      var button = busyButton(form, event.submitter);
      if (!button) return;
      pressed = button;
      idle = button.textContent;
      form.setAttribute("aria-busy", "true");
      // A disabled button is not sent with the form: its name and value go in its stead.
      if (button === event.submitter && button.name) {
        var standIn = document.createElement("input");
        standIn.type = "hidden";
        standIn.name = button.name;
        standIn.value = button.value;
        standIn.setAttribute("data-busy-stand-in", "");
        form.appendChild(standIn);
      }
      button.disabled = true;
      button.textContent = button.getAttribute("data-busy-label");
      announce(button.textContent);
    });
    // Back to this page from the browser's history: ready again.
    window.addEventListener("pageshow", function () {
      if (form.getAttribute("aria-busy") !== "true" || !pressed) return;
      form.removeAttribute("aria-busy");
      Array.prototype.forEach.call(form.querySelectorAll("[data-busy-stand-in]"), function (input) {
        input.parentNode.removeChild(input);
      });
      pressed.disabled = false;
      pressed.textContent = idle;
    });
  });

  /* --- copy buttons ------------------------------------------------------------------------ */

  function copied(button) {
    var label = button.querySelector("[data-copy-label]");
    if (label) {
      label.textContent = "Copied";
      window.setTimeout(function () { label.textContent = "Copy"; }, 2500);
    }
    announce("Copied to the clipboard.");
  }

  function copyBySelection(input, button) {
    input.focus();
    input.select();
    var done = false;
    try { done = document.execCommand("copy"); } catch (error) { done = false; }
    if (done) copied(button);
    else announce("Press Control+C (or Command+C) to copy the selected address.");
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-copy]"), function (button) {
    var input = document.getElementById(button.getAttribute("data-copy"));
    if (!input) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(
          function () { copied(button); },
          function () { copyBySelection(input, button); }
        );
      } else {
        copyBySelection(input, button);
      }
    });
  });

  /* --- the Backfill card: its numbers follow the backfill while it runs -------------------- */

  var backfillCard = document.querySelector("[data-backfill-live]");
  if (backfillCard && window.fetch && window.DOMParser) {
    var refreshBackfill = function () {
      window.fetch(window.location.href, { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (!html) return;
          var fresh = new DOMParser().parseFromString(html, "text/html");
          var progress = fresh.getElementById("backfill-progress");
          var current = document.getElementById("backfill-progress");
          if (!progress || !current) return;
          // Never swap the buttons from under a keyboard user's focus.
          if (current.contains(document.activeElement)) return;
          current.innerHTML = progress.innerHTML;
          var card = fresh.querySelector("[data-backfill-live]");
          if (card) {
            window.setTimeout(refreshBackfill, 2000);
          } else {
            announce("The backfill is over. Reload the page to see its records.");
          }
        })
        .catch(function () { window.setTimeout(refreshBackfill, 5000); });
    };
    window.setTimeout(refreshBackfill, 2000);
  }
})();
