/* The simulated agent console hosts the Optimove tab as Comm100's agent console hosts an app
 * widget: through the App SDK's message protocol (npm `comm100-app` 1.0.2, the host side of
 * which is its `consumer/` code), and nothing else.
 *
 * - The widget posts JSON strings {action, api, params, timestamp, eventTrace, uuid}.
 * - `get` of a documented name is answered with the request echoed plus
 *   {data, errorCode: 0, message: ""}, as a JSON string. A name the console does not know is
 *   never answered (the SDK gives up after 5 s with errorCode 100).
 * - `on` registers the widget for an event; when the agent selects another chat or ticket,
 *   {api, action: "on", data, isBroadcast: true, timestamp} is posted to it.
 * - Selecting another chat keeps the tab's frame (as the agent console does) and tells it.
 *
 * Loaded in <head>, so the listener exists before the frame can speak. */
(function () {
  "use strict";

  // The names Comm100 documents, and what each answers with (keys of the page's data).
  var ANSWERS = {
    "agentconsole.currentChat": "chat",
    "agentconsole.currentChat.visitor": "visitor",
    "agentconsole.ticketing.currentTicket": "ticket",
    "agentconsole.currentAgent": "agent"
  };
  var SELECTION_EVENTS = {
    chat: "agentconsole.currentChat.selectChange",
    ticket: "agentconsole.currentTicket.selectChanged"
  };
  var subscribed = {}; // event name → true, for the current tab frame

  function tab() {
    return document.getElementById("optimove-tab");
  }

  function consoleData() {
    var holder = document.getElementById("comm100-console-data");
    return holder ? JSON.parse(holder.textContent) : {};
  }

  function tabOrigin(frame) {
    return new URL(frame.src, window.location.href).origin;
  }

  function post(frame, message) {
    frame.contentWindow.postMessage(JSON.stringify(message), tabOrigin(frame));
  }

  function note(text) {
    var status = document.getElementById("tab-status");
    if (status) {
      status.textContent = text;
    }
  }

  window.addEventListener("message", function (event) {
    var frame = tab();
    if (!frame || event.source !== frame.contentWindow || event.origin !== tabOrigin(frame)) {
      return;
    }
    if (typeof event.data !== "string") {
      return; // the SDK speaks JSON strings only
    }
    var request;
    try {
      request = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    if (!request || !request.api || !request.action) {
      return;
    }
    if (request.action === "on") {
      subscribed[request.api] = true;
      return;
    }
    if (request.action !== "get" || !(request.api in ANSWERS)) {
      note("The tab asked for " + request.api + ", which the agent console does not have.");
      return; // unknown: never answered
    }
    var data = consoleData()[ANSWERS[request.api]];
    var answer = Object.assign({}, request, { data: data === undefined ? null : data,
      errorCode: 0, message: "" });
    post(frame, answer);
    note("The tab asked for " + request.api + " at " + new Date().toLocaleTimeString() + ".");
  });

  function broadcast(kind) {
    var frame = tab();
    var name = SELECTION_EVENTS[kind];
    if (!frame || !subscribed[name]) {
      return;
    }
    var data = consoleData()[kind];
    post(frame, { api: name, action: "on", data: data === undefined ? null : data,
      isBroadcast: true, timestamp: Date.now() });
    note("Told the tab: " + name + ".");
  }

  /* Selecting another conversation of the same kind keeps the tab (the same widget) and tells
   * it; anything else is an ordinary page load. */
  function select(link, event) {
    var frame = tab();
    if (!frame || !window.fetch || !window.DOMParser) {
      return;
    }
    event.preventDefault();
    fetch(link.href, { credentials: "same-origin" }).then(function (response) {
      return response.text();
    }).then(function (html) {
      var next = new DOMParser().parseFromString(html, "text/html");
      var nextFrame = next.getElementById("optimove-tab");
      if (!nextFrame || new URL(nextFrame.getAttribute("src"), link.href).href !== frame.src) {
        window.location.assign(link.href);
        return;
      }
      ["conversation-pane", "comm100-console-data", "console-data-shown"].forEach(function (id) {
        var here = document.getElementById(id);
        var there = next.getElementById(id);
        if (here && there) {
          here.textContent = "";
          here.innerHTML = there.innerHTML;
        }
      });
      document.querySelectorAll(".inbox a[aria-current]").forEach(function (a) {
        a.removeAttribute("aria-current");
      });
      link.setAttribute("aria-current", "page");
      window.history.pushState({}, "", link.href);
      broadcast(consoleData().chat ? "chat" : "ticket");
    }, function () {
      window.location.assign(link.href);
    });
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest(".inbox .items a") : null;
    if (link && !event.ctrlKey && !event.metaKey && !event.shiftKey && event.button === 0) {
      select(link, event);
    }
  });
  window.addEventListener("popstate", function () {
    window.location.reload();
  });
})();
