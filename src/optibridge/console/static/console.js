/*
 * The Optimove tab of the Comm100 agent console (optibridge).
 *
 * Hand-written, no build step, no inline script (the page's CSP allows only this file).
 *
 * The tab learns its chat or ticket only from the Comm100 agent console that hosts it, through
 * the App SDK's message protocol (see "Comm100's App SDK" below); it follows the agent when
 * the selected chat or ticket changes.
 *
 * Who the agent is: with Comm100 sign-in set up, the page comes without a session and the tab
 * signs the agent in with Comm100 (see "Comm100 sign-in" below); with an agent token in its
 * address, the page hands it a session at once.
 *
 * Everything is rendered with textContent: no value from Comm100 or Optimove ever becomes HTML.
 */
(function () {
  "use strict";

  var root = document.getElementById("console");
  if (!root) {
    return;
  }
  var channel = root.getAttribute("data-channel");
  var api = root.getAttribute("data-api");
  var conversation = root.getAttribute("data-conversation") || "conversation";
  var sessionMeta = document.querySelector('meta[name="optibridge-session"]');
  var session = sessionMeta ? sessionMeta.getAttribute("content") : "";
  var signInUrl = root.getAttribute("data-sign-in") || "";
  var siteId = root.getAttribute("data-site-id") || "";

  var VISITOR_KEYS = [
    "id", "name", "email", "phone", "company", "product_service", "department", "sso_id",
    "ip", "city", "state", "country", "language", "referrer_url", "landing_page"
  ];
  var POLL_EVERY_MS = 1000;
  var POLL_FOR_MS = 90000;

  function byId(id) {
    return document.getElementById(id);
  }

  var ui = {
    refresh: byId("refresh"),
    message: byId("message"),
    notice: byId("notice"),
    customer: byId("customer"),
    customerId: byId("customer-id"),
    openLink: byId("open-link"),
    fields: byId("fields"),
    noFields: byId("no-fields"),
    edit: byId("edit"),
    editForm: byId("edit-form"),
    editFields: byId("edit-fields"),
    editError: byId("edit-error"),
    save: byId("save"),
    cancel: byId("cancel"),
    createForm: byId("create-form"),
    createAsks: byId("create-asks"),
    createPreview: byId("create-preview"),
    createError: byId("create-error"),
    create: byId("create"),
    confirm: byId("create-confirm"),
    confirmMessage: byId("confirm-message"),
    confirmPreview: byId("confirm-preview"),
    confirmError: byId("confirm-error"),
    confirmCreate: byId("confirm-create"),
    confirmCancel: byId("confirm-cancel"),
    change: byId("change")
  };

  var state = {
    context: null,
    contextKey: "",
    view: null,
    lookupSeq: 0,
    pollTimer: null,
    busy: false,
    creation: null // the answers of a creation the agent is asked to confirm
  };

  // --- the console API ------------------------------------------------------------------

  function ApiError(message, status, code, details) {
    this.message = message;
    this.status = status;
    this.code = code;
    this.details = details || [];
  }

  function call(method, path, body) {
    var headers = { "Accept": "application/json", "Authorization": "Bearer " + session };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
    }
    return fetch(api + path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store"
    }).then(
      function (response) {
        return response.json().then(
          function (data) { return { response: response, data: data }; },
          function () { return { response: response, data: null }; }
        );
      },
      function () {
        throw new ApiError(
          "The optibridge service can't be reached. Check the connection, then press Refresh.",
          0, "network", []
        );
      }
    ).then(function (answer) {
      var data = answer.data;
      if (answer.response.status === 401 && signInUrl) {
        forgetSession();
        signIn(false);
      }
      if (!answer.response.ok) {
        var error = data && data.error ? data.error : {};
        throw new ApiError(
          error.message || "The optibridge service answered HTTP " + answer.response.status
            + ": press Refresh in a moment, and if it keeps happening, tell your administrator.",
          answer.response.status, error.code || "error", error.details || []
        );
      }
      return data;
    });
  }

  // --- the conversation, made safe to send ----------------------------------------------------

  function scalar(value) {
    if (typeof value === "string") {
      return value;
    }
    if (typeof value === "number" && isFinite(value)) {
      return String(value);
    }
    return null;
  }

  function namedValues(list) {
    if (!Array.isArray(list)) {
      return [];
    }
    var result = [];
    for (var i = 0; i < list.length && result.length < 500; i++) {
      var item = list[i];
      if (item && typeof item === "object" && typeof item.name === "string") {
        result.push({ name: item.name, value: scalar(item.value) });
      }
    }
    return result;
  }

  function cleanLiveChat(context) {
    if (!context || typeof context !== "object") {
      return null;
    }
    var visitor = context.visitor;
    if (visitor !== undefined && visitor !== null && typeof visitor !== "object") {
      return null;
    }
    var clean = { chat_id: scalar(context.chat_id) };
    if (visitor) {
      var v = {};
      VISITOR_KEYS.forEach(function (key) {
        var text = scalar(visitor[key]);
        if (text !== null) {
          v[key] = text;
        }
      });
      v.custom_fields = namedValues(visitor.custom_fields);
      v.custom_variables = namedValues(visitor.custom_variables);
      clean.visitor = v;
    }
    if (clean.chat_id === null && !clean.visitor) {
      return null;
    }
    return clean;
  }

  function cleanTicket(context) {
    if (!context || typeof context !== "object") {
      return null;
    }
    var ticketId = scalar(context.ticket_id);
    if (ticketId === null) {
      return null;
    }
    var clean = { ticket_id: ticketId };
    var requester = context.requester;
    if (requester && typeof requester === "object") {
      clean.requester = { type: scalar(requester.type), id: scalar(requester.id) };
    }
    return clean;
  }

  function cleanContext(context) {
    return channel === "livechat" ? cleanLiveChat(context) : cleanTicket(context);
  }

  // --- Comm100's App SDK, spoken on the wire ---------------------------------------------------
  /*
   * The agent console answers an app widget's messages as the App SDK (npm `comm100-app` 1.0.2,
   * whose source is the protocol) expects: the tab posts to its parent the JSON *string*
   *   {action: "get"|"set"|"do"|"on", api, params: {value}, timestamp, eventTrace, uuid}
   * with eventTrace = api + "_" + a new guid for get/set/do, and the api itself for "on"; the
   * console answers with the same message plus {data, errorCode, message}, matched by
   * eventTrace; events come as {api, action: "on", data, isBroadcast: true}. A name the
   * console does not know is never answered: after 5 s the SDK says errorCode 100, as here.
   *
   * Comm100 documents the names of the current chat and ticket (and their selection events),
   * renamed some into a `livechat` namespace in 2022, and has not published the new ones: each
   * group lists the documented name first, then the candidates. All are asked at once; the first
   * that answers is used, and remembered for this browser tab's session.
   */
  var SDK_TIMEOUT_MS = 5000;
  var SDK_NAMES = {
    chat: ["agentconsole.currentChat", "agentconsole.livechat.currentChat"],
    visitor: ["agentconsole.currentChat.visitor", "agentconsole.livechat.currentChat.visitor"],
    chatSelected: [
      "agentconsole.currentChat.selectChange",
      "agentconsole.livechat.currentChat.selectChange"
    ],
    ticket: ["agentconsole.ticketing.currentTicket", "agentconsole.ticket.currentTicket"],
    ticketSelected: [
      "agentconsole.currentTicket.selectChanged",
      "agentconsole.ticketing.currentTicket.selectChanged"
    ]
  };
  var sdk = { uuid: guid(), pending: {}, listeners: {} };

  function guid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, function (c) {
      var r = Math.random() * 16 | 0;
      return (c === "x" ? r : (r & 3 | 8)).toString(16);
    });
  }

  function sdkPost(message) {
    // The SDK posts with target "*": the console's origin differs per data centre and is not
    // known to the tab. Nothing secret is sent: names of what the tab asks for.
    window.parent.postMessage(JSON.stringify(message), "*");
  }

  function sdkGet(api) {
    var trace = api + "_" + guid();
    return new Promise(function (resolve) {
      sdk.pending[trace] = resolve;
      window.setTimeout(function () {
        if (sdk.pending[trace]) {
          delete sdk.pending[trace];
          resolve({ errorCode: 100, message: "The API(" + api + ") is misspelled or not implemented." });
        }
      }, SDK_TIMEOUT_MS);
      sdkPost({ action: "get", api: api, timestamp: Date.now(), eventTrace: trace, uuid: sdk.uuid });
    });
  }

  function sdkOn(api, callback) {
    (sdk.listeners[api] = sdk.listeners[api] || []).push(callback);
    sdkPost({ action: "on", api: api, alive: true, timestamp: Date.now(), eventTrace: api,
      uuid: sdk.uuid });
  }

  function onSdkMessage(event) {
    if (event.source !== window.parent || typeof event.data !== "string") {
      return; // only the console that embeds the tab speaks for the conversation
    }
    var data;
    try {
      data = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    if (!data || typeof data !== "object" || !data.api || !data.action) {
      return;
    }
    var key = data.eventTrace || data.api;
    var answer = { data: data.data, errorCode: data.errorCode || 0, message: data.message || "success" };
    var resolve = sdk.pending[key];
    if (resolve) {
      delete sdk.pending[key];
      resolve(answer);
      return;
    }
    (sdk.listeners[key] || []).forEach(function (callback) {
      callback(answer);
    });
  }

  // Storage may be refused in a framed page: then the names are probed again next time.
  function rememberedName(group) {
    return stored("optibridge.sdk." + group);
  }

  function rememberName(group, name) {
    store("optibridge.sdk." + group, name);
  }

  /* The value of the first of the group's names the console answers (a rejection when none
   * does); the name that answered is asked alone next time. */
  function sdkRead(group) {
    var known = rememberedName(group);
    if (known && SDK_NAMES[group].indexOf(known) >= 0) {
      return sdkGet(known).then(function (answer) {
        return answer.errorCode === 0 ? answer.data : probe(group);
      });
    }
    return probe(group);
  }

  function probe(group) {
    var names = SDK_NAMES[group];
    return new Promise(function (resolve, reject) {
      var failed = 0;
      names.forEach(function (name) {
        sdkGet(name).then(function (answer) {
          if (answer.errorCode === 0) {
            rememberName(group, name);
            resolve(answer.data);
          } else if (++failed === names.length) {
            reject(new Error(answer.message));
          }
        });
      });
    });
  }

  function unwrapped(value) {
    // Comm100's own samples accept both the SDK's {data: …} and a bare value.
    return value && typeof value === "object" && "data" in value && !("id" in value)
      ? value.data : value;
  }

  function chatContext(chat, visitor) {
    chat = unwrapped(chat) || {};
    visitor = unwrapped(visitor) || {};
    var location = visitor.location && typeof visitor.location === "object" ? visitor.location : {};
    return {
      chat_id: chat.id,
      visitor: {
        id: visitor.id || chat.visitorId,
        name: chat.name || visitor.name,
        email: chat.email || visitor.email,
        phone: chat.phone,
        company: chat.company,
        product_service: chat.productService,
        department: typeof chat.department === "object" && chat.department
          ? chat.department.name : chat.department,
        sso_id: visitor.ssoId,
        ip: location.ip,
        city: location.city,
        state: location.state,
        country: location.country,
        referrer_url: visitor.referrer,
        landing_page: visitor.landingPage,
        custom_fields: chat.fields,
        custom_variables: visitor.customVariables
      }
    };
  }

  function ticketContext(ticket) {
    ticket = unwrapped(ticket) || {};
    var requester = ticket.contactOrVisitor && typeof ticket.contactOrVisitor === "object"
      ? ticket.contactOrVisitor : {};
    return {
      ticket_id: ticket.id,
      requester: { type: ticket.relatedType, id: ticket.relatedId || requester.id }
    };
  }

  function readConversation() {
    var read = channel === "livechat"
      ? Promise.all([sdkRead("chat"), sdkRead("visitor")]).then(function (parts) {
        return chatContext(parts[0], parts[1]);
      })
      : sdkRead("ticket").then(ticketContext);
    return read.then(function (raw) {
      var context = cleanContext(raw);
      if (context) {
        useContext(context);
      } else {
        say("No " + conversation + " is selected in the agent console: select one to see its"
          + " customer.", "problem");
      }
    }, function () {
      say("The Comm100 agent console did not give this tab the current " + conversation
        + ". Open the tab beside a " + conversation + ".", "problem");
    });
  }

  function connectToConsole() {
    window.addEventListener("message", onSdkMessage);
    var events = channel === "livechat" ? SDK_NAMES.chatSelected : SDK_NAMES.ticketSelected;
    events.forEach(function (name) {
      sdkOn(name, function () {
        readConversation();
      });
    });
    readConversation();
  }

  function useContext(context) {
    var key = JSON.stringify(context);
    if (key === state.contextKey) {
      return; // the same conversation again: nothing new to look up
    }
    state.contextKey = key;
    state.context = context;
    stopPolling();
    hide(ui.change);
    closeEdit(false);
    lookup(false);
  }

  // --- lookups ------------------------------------------------------------------------------

  function lookup(refresh) {
    if (!state.context) {
      return;
    }
    var seq = ++state.lookupSeq;
    setBusy(true);
    say(refresh ? "Reading Optimove…" : "Looking up the customer…", "loading");
    call("POST", refresh ? "/refresh" : "/lookup", { channel: channel, context: state.context })
      .then(function (view) {
        if (seq === state.lookupSeq) {
          render(view);
        }
      }, function (error) {
        if (seq === state.lookupSeq) {
          renderError(error);
        }
      })
      .then(function () {
        if (seq === state.lookupSeq) {
          setBusy(false);
        }
      });
  }

  function render(view) {
    state.view = view;
    hide(ui.notice);
    hide(ui.customer);
    hide(ui.createForm);
    closeConfirm(false);
    say(view.message, view.status === "matched" ? "ok" : "problem");
    if (view.stale) {
      var when = view.fetched_at ? " Last read " + formatTime(view.fetched_at) + "." : "";
      ui.notice.textContent = "Stale data. " + (view.notice || "") + when;
      show(ui.notice);
    } else if (view.notice) {
      // Fresh data that was slow to come: Optimove's budget was the bottleneck.
      ui.notice.textContent = view.notice;
      show(ui.notice);
    }
    if (view.status === "matched") {
      renderCustomer(view);
    }
    if (view.create && view.create.allowed && !view.stale) {
      renderCreate(view.create);
    }
  }

  function renderCustomer(view) {
    ui.customerId.textContent = view.customer_id || "";
    if (view.customer_url) {
      ui.openLink.href = view.customer_url;
      ui.openLink.setAttribute("aria-label", "Open customer " + view.customer_id + " in Optimove");
      show(ui.openLink);
    } else {
      ui.openLink.removeAttribute("href");
      hide(ui.openLink);
    }
    clear(ui.fields);
    view.fields.forEach(function (field) {
      var term = document.createElement("dt");
      term.textContent = field.label;
      var value = document.createElement("dd");
      value.setAttribute("data-field", field.field);
      if (field.value === null || field.value === "") {
        value.textContent = "—";
        value.className = "empty";
        value.setAttribute("aria-label", "empty");
      } else {
        value.textContent = field.value;
      }
      ui.fields.appendChild(term);
      ui.fields.appendChild(value);
    });
    toggle(ui.noFields, view.fields.length === 0);
    // Editing needs Optimove: not while it can't be read.
    toggle(ui.edit, view.fields.length > 0 && !view.stale);
    show(ui.customer);
  }

  function renderError(error) {
    state.view = null;
    hide(ui.customer);
    hide(ui.createForm);
    closeConfirm(false);
    hide(ui.notice);
    say(error.message, "problem");
  }

  // --- editing --------------------------------------------------------------------------------

  function openEdit() {
    var view = state.view;
    if (!view || view.status !== "matched") {
      return;
    }
    clear(ui.editFields);
    hide(ui.editError);
    view.fields.forEach(function (field, index) {
      var id = "edit-" + index;
      var wrapper = document.createElement("div");
      wrapper.className = "field";
      var label = document.createElement("label");
      label.setAttribute("for", id);
      label.textContent = field.label;
      var input = document.createElement("input");
      input.type = "text";
      input.id = id;
      input.name = field.field;
      input.value = field.value === null ? "" : field.value;
      input.setAttribute("data-original", input.value);
      input.autocomplete = "off";
      var hint = typeHint(field.type);
      var describedBy = [];
      wrapper.appendChild(label);
      wrapper.appendChild(input);
      if (hint) {
        var hintEl = document.createElement("p");
        hintEl.className = "hint";
        hintEl.id = id + "-hint";
        hintEl.textContent = hint;
        wrapper.appendChild(hintEl);
        describedBy.push(hintEl.id);
      }
      var errorEl = document.createElement("p");
      errorEl.className = "error";
      errorEl.id = id + "-error";
      errorEl.hidden = true;
      wrapper.appendChild(errorEl);
      describedBy.push(errorEl.id);
      input.setAttribute("aria-describedby", describedBy.join(" "));
      if (/^(bigint|int|integer|smallint|tinyint|decimal|numeric|float|real|money)/i.test(field.type || "")) {
        input.inputMode = "decimal";
      }
      ui.editFields.appendChild(wrapper);
    });
    hide(ui.customer);
    show(ui.editForm);
    var first = ui.editFields.querySelector("input");
    if (first) {
      first.focus();
    }
  }

  function closeEdit(restoreFocus) {
    if (ui.editForm.hidden) {
      return;
    }
    hide(ui.editForm);
    if (state.view && state.view.status === "matched") {
      show(ui.customer);
      if (restoreFocus) {
        ui.edit.focus();
      }
    }
  }

  function typeHint(type) {
    var t = (type || "").toLowerCase();
    if (/^(date|datetime|smalldatetime|datetime2|datetimeoffset|timestamp)/.test(t)) {
      return "A date, as YYYY-MM-DD.";
    }
    if (/^(bigint|int|integer|smallint|tinyint)/.test(t)) {
      return "A whole number.";
    }
    if (/^(decimal|numeric|float|real|double|money|smallmoney|number)/.test(t)) {
      return "A number, like 1234.50.";
    }
    if (/^(bit|bool)/.test(t)) {
      return "Yes or no (1 or 0).";
    }
    return "";
  }

  function saveEdit(event) {
    event.preventDefault();
    if (state.busy || !state.view) {
      return;
    }
    var values = {};
    var changed = 0;
    var inputs = ui.editFields.querySelectorAll("input");
    Array.prototype.forEach.call(inputs, function (input) {
      setFieldError(input, "");
      if (input.value !== input.getAttribute("data-original")) {
        values[input.name] = input.value;
        changed++;
      }
    });
    hide(ui.editError);
    if (changed === 0) {
      showFormError(ui.editError, "Nothing to save: no value was changed.");
      return;
    }
    var customerId = state.view.customer_id;
    setBusy(true);
    call("POST", "/edit", {
      channel: channel,
      customer_id: customerId,
      values: values,
      context: state.context
    }).then(function (change) {
      closeEdit(true);
      showChange(change);
      if (change.status === "sent") {
        applyPendingValues(change.changes);
        poll(change.record_id);
      }
    }, function (error) {
      if (error.status === 422 && error.details.length) {
        var firstInvalid = null;
        error.details.forEach(function (detail) {
          var name = fieldOfPointer(detail.pointer, "/values/");
          var input = name === null ? null : findInput(name);
          if (input) {
            setFieldError(input, detail.message);
            firstInvalid = firstInvalid || input;
          } else {
            showFormError(ui.editError, detail.message);
          }
        });
        showFormError(ui.editError, error.message);
        if (firstInvalid) {
          firstInvalid.focus();
        }
      } else {
        showFormError(ui.editError, error.message);
      }
    }).then(function () {
      setBusy(false);
    });
  }

  function findInput(name) {
    var inputs = ui.editFields.querySelectorAll("input");
    for (var i = 0; i < inputs.length; i++) {
      if (inputs[i].name === name) {
        return inputs[i];
      }
    }
    return null;
  }

  function fieldOfPointer(pointer, prefix) {
    if (typeof pointer !== "string" || pointer.indexOf(prefix) !== 0) {
      return null;
    }
    return pointer.slice(prefix.length).replace(/~1/g, "/").replace(/~0/g, "~");
  }

  function setFieldError(input, message) {
    var errorEl = byId(input.id + "-error");
    if (!errorEl) {
      return;
    }
    errorEl.textContent = message;
    errorEl.hidden = !message;
    if (message) {
      input.setAttribute("aria-invalid", "true");
    } else {
      input.removeAttribute("aria-invalid");
    }
  }

  function applyPendingValues(changes) {
    (changes || []).forEach(function (change) {
      var cell = ui.fields.querySelector('dd[data-field="' + cssEscape(change.field) + '"]');
      if (cell) {
        cell.textContent = change.new;
        cell.className = "pending";
        cell.removeAttribute("aria-label");
        cell.title = "Waiting for Optimove to confirm";
      }
    });
  }

  function cssEscape(value) {
    return window.CSS && CSS.escape ? CSS.escape(value) : value.replace(/["\\]/g, "\\$&");
  }

  // --- creating -------------------------------------------------------------------------------

  function renderCreate(offer) {
    clear(ui.createAsks);
    clear(ui.createPreview);
    hide(ui.createError);
    var asks = offer.asks || [];
    if (asks.length > 1) {
      var chooser = field("create-by", "Identify the customer by", document.createElement("select"));
      asks.forEach(function (ask, index) {
        var option = document.createElement("option");
        option.value = String(index);
        option.textContent = ask.label;
        chooser.control.appendChild(option);
      });
      ui.createAsks.appendChild(chooser.wrapper);
    }
    if (asks.length > 0) {
      var input = document.createElement("input");
      input.type = "text";
      input.autocomplete = "off";
      input.required = true;
      var entry = field("create-value", capitalise(asks[0].label), input);
      ui.createAsks.appendChild(entry.wrapper);
      if (asks.length > 1) {
        var select = byId("create-by");
        select.addEventListener("change", function () {
          var label = entry.wrapper.querySelector("label");
          label.textContent = capitalise(asks[Number(select.value)].label);
        });
      }
    } else if (offer.customer_id) {
      var lead = document.createElement("p");
      lead.textContent = "The customer will have the ID " + offer.customer_id + ".";
      ui.createPreview.appendChild(lead);
    }
    var preview = offer.preview || [];
    var intro = document.createElement("p");
    intro.textContent = preview.length
      ? "With these values from the " + conversation + ":"
      : "With no other values (the " + conversation + " has none for the mapped fields).";
    ui.createPreview.appendChild(intro);
    if (preview.length) {
      ui.createPreview.appendChild(fieldList(preview));
    }
    show(ui.createForm);
  }

  function fieldList(fields) {
    var list = document.createElement("dl");
    list.className = "fields";
    fields.forEach(function (item) {
      var term = document.createElement("dt");
      term.textContent = item.label;
      var value = document.createElement("dd");
      value.textContent = item.value;
      list.appendChild(term);
      list.appendChild(value);
    });
    return list;
  }

  function field(id, labelText, control) {
    var wrapper = document.createElement("div");
    wrapper.className = "field";
    var label = document.createElement("label");
    label.setAttribute("for", id);
    label.textContent = labelText;
    control.id = id;
    var errorEl = document.createElement("p");
    errorEl.className = "error";
    errorEl.id = id + "-error";
    errorEl.hidden = true;
    control.setAttribute("aria-describedby", errorEl.id);
    wrapper.appendChild(label);
    wrapper.appendChild(control);
    wrapper.appendChild(errorEl);
    return { wrapper: wrapper, control: control };
  }

  // Create in two steps: the service says which id the customer will get and with what
  // values (nothing is written), the agent confirms, then it is created.
  function submitCreate(event) {
    event.preventDefault();
    var view = state.view;
    if (state.busy || !view || !view.create || !view.create.allowed) {
      return;
    }
    hide(ui.createError);
    var answers = {};
    var asks = view.create.asks || [];
    var input = byId("create-value");
    if (asks.length) {
      var select = byId("create-by");
      var ask = asks[select ? Number(select.value) : 0];
      setFieldError(input, "");
      if (!input.value.trim()) {
        setFieldError(input, "Enter the " + ask.label + ": it identifies the customer in"
          + " Optimove.");
        input.focus();
        return;
      }
      answers[ask.key] = input.value.trim();
    }
    setBusy(true);
    call("POST", "/create/preview", { channel: channel, context: state.context, answers: answers })
      .then(function (preview) {
        setBusy(false); // first: a disabled button can't take the focus
        openConfirm(preview, answers);
      }, function (error) {
        setBusy(false);
        showCreateError(error, input, ui.createError);
      });
  }

  function showCreateError(error, input, where) {
    var shown = false;
    if (input && error.details) {
      error.details.forEach(function (detail) {
        if (typeof detail.pointer === "string" && detail.pointer.indexOf("/answers") === 0) {
          setFieldError(input, capitalise(detail.message) + ".");
          shown = true;
        }
      });
    }
    showFormError(where, error.message);
    if (shown) {
      input.focus();
    }
  }

  function openConfirm(preview, answers) {
    state.creation = answers;
    ui.confirmMessage.textContent = preview.message;
    ui.confirmCreate.textContent = "Create customer " + preview.customer_id;
    clear(ui.confirmPreview);
    var intro = document.createElement("p");
    intro.textContent = preview.fields.length
      ? "With these values from the " + conversation + ":"
      : "With no other values (the " + conversation + " has none for the mapped fields).";
    ui.confirmPreview.appendChild(intro);
    if (preview.fields.length) {
      ui.confirmPreview.appendChild(fieldList(preview.fields));
    }
    hide(ui.confirmError);
    hide(ui.createForm);
    show(ui.confirm);
    ui.confirmCreate.focus();
  }

  function closeConfirm(backToForm) {
    state.creation = null;
    if (ui.confirm.hidden) {
      return;
    }
    hide(ui.confirm);
    if (backToForm && state.view && state.view.create && state.view.create.allowed) {
      show(ui.createForm);
      ui.create.focus();
    }
  }

  function confirmCreate() {
    if (state.busy || state.creation === null) {
      return;
    }
    var answers = state.creation;
    setBusy(true);
    call("POST", "/create", { channel: channel, context: state.context, answers: answers })
      .then(function (change) {
        state.creation = null;
        hide(ui.confirm);
        showChange(change);
        poll(change.record_id);
      }, function (error) {
        showFormError(ui.confirmError, error.message);
      })
      .then(function () {
        setBusy(false);
      });
  }

  // --- confirmation -------------------------------------------------------------------------

  function showChange(change) {
    ui.change.textContent = change.message;
    ui.change.className = "change " + change.status;
    show(ui.change);
  }

  function poll(recordId) {
    stopPolling();
    var until = Date.now() + POLL_FOR_MS;
    function check() {
      call("GET", "/changes/" + encodeURIComponent(recordId)).then(function (change) {
        if (change.status === "sent") {
          if (Date.now() > until) {
            ui.change.textContent = "Sent to Optimove, which has not confirmed it yet: the sync"
              + " log will show when it does.";
            state.pollTimer = null;
            return;
          }
          state.pollTimer = window.setTimeout(check, POLL_EVERY_MS);
          return;
        }
        state.pollTimer = null;
        showChange(change);
        lookup(false); // the confirmed values (our cache holds them now)
      }, function () {
        state.pollTimer = window.setTimeout(check, POLL_EVERY_MS * 3);
      });
    }
    state.pollTimer = window.setTimeout(check, POLL_EVERY_MS);
  }

  function stopPolling() {
    if (state.pollTimer !== null) {
      window.clearTimeout(state.pollTimer);
      state.pollTimer = null;
    }
  }

  // --- small helpers --------------------------------------------------------------------------

  function say(text, kind) {
    ui.message.textContent = text;
    ui.message.className = "message " + (kind || "");
  }

  function showFormError(element, text) {
    element.textContent = text;
    show(element);
  }

  function setBusy(busy) {
    state.busy = busy;
    root.setAttribute("aria-busy", busy ? "true" : "false");
    ui.refresh.disabled = busy || !state.context;
    ui.save.disabled = busy;
    ui.create.disabled = busy;
    ui.confirmCreate.disabled = busy;
  }

  function formatTime(iso) {
    var date = new Date(iso);
    if (isNaN(date.getTime())) {
      return "";
    }
    var sameDay = new Date().toDateString() === date.toDateString();
    return sameDay
      ? "at " + date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : "on " + date.toLocaleString();
  }

  function capitalise(text) {
    return text ? text.charAt(0).toUpperCase() + text.slice(1) : text;
  }

  function clear(element) {
    while (element.firstChild) {
      element.removeChild(element.firstChild);
    }
  }

  function show(element) {
    element.hidden = false;
  }

  function hide(element) {
    element.hidden = true;
  }

  function toggle(element, visible) {
    element.hidden = !visible;
  }


  // --- Comm100 sign-in ------------------------------------------------------------------------
  /*
   * The page's server sends the tab to Comm100's sign-in (OAuth 2; silent when the agent is
   * signed in to Comm100), which comes back to this page with a console session in the URL's
   * fragment, beside the nonce this script made before leaving. The session is taken only with
   * that nonce (so no one can slip theirs in), kept in this tab's sessionStorage (the iframe's
   * own, not the console's), and the fragment is wiped from the address at once.
   */
  var SIGN_IN_KEYS = {
    nonce: "optibridge.signin.nonce",
    startedAt: "optibridge.signin.at",
    session: "optibridge.session." + siteId
  };
  var SIGN_IN_RETRY_MS = 30000;

  // This tab's sessionStorage; null, or false, when a framed page is refused storage.
  function stored(key) {
    try {
      return window.sessionStorage.getItem(key);
    } catch (error) {
      return null;
    }
  }

  function store(key, value) {
    try {
      if (value === null) {
        window.sessionStorage.removeItem(key);
      } else {
        window.sessionStorage.setItem(key, value);
      }
      return true;
    } catch (error) {
      return false;
    }
  }

  function sessionFromSignIn() {
    var hash = window.location.hash.replace(/^#/, "");
    if (hash.indexOf("ob_session=") === -1) {
      return stored(SIGN_IN_KEYS.session) || "";
    }
    var params = new URLSearchParams(hash);
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
    var expected = stored(SIGN_IN_KEYS.nonce);
    store(SIGN_IN_KEYS.nonce, null);
    if (!expected || params.get("ob_nonce") !== expected || !params.get("ob_session")) {
      return "";
    }
    store(SIGN_IN_KEYS.startedAt, null);
    store(SIGN_IN_KEYS.session, params.get("ob_session"));
    return params.get("ob_session");
  }

  function forgetSession() {
    session = "";
    store(SIGN_IN_KEYS.session, null);
  }

  function newNonce() {
    var bytes = new Uint8Array(24);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  // Off to Comm100, unless a sign-in just failed to come back (then the agent decides).
  function signIn(byHand) {
    var startedAt = Number(stored(SIGN_IN_KEYS.startedAt) || 0);
    if (!byHand && Date.now() - startedAt < SIGN_IN_RETRY_MS) {
      offerSignIn();
      return;
    }
    var nonce = newNonce();
    if (!store(SIGN_IN_KEYS.nonce, nonce) || !store(SIGN_IN_KEYS.startedAt, String(Date.now()))) {
      say("This browser keeps no storage for the Optimove tab, so Comm100 sign-in can't work"
        + " here: ask your administrator for the agent token option.", "problem");
      return;
    }
    say("Signing you in with Comm100…", "loading");
    window.location.replace(signInUrl + "&nonce=" + encodeURIComponent(nonce));
  }

  function offerSignIn() {
    say("You are not signed in with Comm100 in this tab.", "problem");
    var again = document.createElement("button");
    again.type = "button";
    again.className = "button primary";
    again.id = "sign-in";
    again.textContent = "Sign in with Comm100";
    again.addEventListener("click", function () {
      signIn(true);
    });
    ui.message.appendChild(document.createTextNode(" "));
    ui.message.appendChild(again);
  }

  // --- start ----------------------------------------------------------------------------------

  ui.refresh.addEventListener("click", function () {
    closeEdit(false);
    lookup(true);
  });
  ui.edit.addEventListener("click", openEdit);
  ui.cancel.addEventListener("click", function () {
    closeEdit(true);
  });
  ui.editForm.addEventListener("submit", saveEdit);
  ui.editForm.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      event.preventDefault();
      closeEdit(true);
    }
  });
  ui.createForm.addEventListener("submit", submitCreate);
  ui.confirmCreate.addEventListener("click", confirmCreate);
  ui.confirmCancel.addEventListener("click", function () {
    closeConfirm(true);
  });
  ui.confirm.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      event.preventDefault();
      closeConfirm(true);
    }
  });

  if (signInUrl && !session) {
    session = sessionFromSignIn();
  }
  if (signInUrl && !session) {
    signIn(false);
  } else if (window.parent !== window) {
    connectToConsole();
  } else {
    say("This tab shows the Optimove customer when it is opened beside a " + conversation
      + " in the Comm100 agent console.", "problem");
  }
})();
