/* The agent console's side of the Optimove tab protocol, as Comm100's agent console hosts an
 * app widget: when the tab says {"type": "optibridge:ready"}, answer with
 * {"type": "optibridge:context", "context": ...} (the context is in the page as JSON).
 * Loaded in <head>, so the listener exists before the iframe can speak. */
(function () {
  "use strict";

  function tabOrigin(frame) {
    return new URL(frame.src, window.location.href).origin;
  }

  function sendContext(frame) {
    var holder = document.getElementById(frame.getAttribute("data-context"));
    var context = JSON.parse(holder.textContent);
    frame.contentWindow.postMessage(
      { type: "optibridge:context", context: context },
      tabOrigin(frame)
    );
    var status = document.getElementById(frame.getAttribute("data-status"));
    if (status) {
      status.textContent =
        "Context sent to the Optimove tab at " + new Date().toLocaleTimeString() + ".";
    }
  }

  window.addEventListener("message", function (event) {
    var data = event.data;
    if (!data || typeof data !== "object" || data.type !== "optibridge:ready") {
      return;
    }
    var frames = document.querySelectorAll("iframe[data-context]");
    for (var i = 0; i < frames.length; i += 1) {
      var frame = frames[i];
      if (event.source === frame.contentWindow && event.origin === tabOrigin(frame)) {
        sendContext(frame);
      }
    }
  });
})();
