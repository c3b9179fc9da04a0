// Passkeys (WebAuthn) for sudo mode and Account -> Passkeys. The cockpit works without this
// file: the password is typed instead wherever the studio allows it.
//
// A re-authentication box that offers a passkey ([data-passkey-options]) asks the server for
// options when its form is sent with no password typed, runs navigator.credentials.get, puts
// the answer in the form's passkey_assertion field and sends the form again, so htmx or a
// plain POST carries it as usual. A registration form ([data-passkey-register]) does the same
// with navigator.credentials.create and its credential field.
(function () {
  "use strict";

  var supported = !!(window.PublicKeyCredential && navigator.credentials);
  // Loaded in <head> without defer: from here on, cockpit.css hides [data-passkey-nojs].
  document.documentElement.classList.add("js");

  function show(root) {
    (root || document).querySelectorAll(supported ? "[data-passkey-ready]" : "[data-passkey-unsupported]")
      .forEach(function (element) { element.hidden = false; });
  }
  document.addEventListener("DOMContentLoaded", function () { show(document); });
  // Boxes htmx swaps in (the proposal's decision panel) get the same treatment.
  document.addEventListener("htmx:load", function (event) { show(event.target); });

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toText(buffer) {
    if (!buffer) { return null; }
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIds(list) {
    return (list || []).map(function (credential) {
      return Object.assign({}, credential, { id: toBytes(credential.id) });
    });
  }

  function credentialJSON(credential) {
    var response = credential.response;
    var json = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toText(response.clientDataJSON) }
    };
    if (credential.authenticatorAttachment) {
      json.authenticatorAttachment = credential.authenticatorAttachment;
    }
    if (response.attestationObject) {
      json.response.attestationObject = toText(response.attestationObject);
      json.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      json.response.authenticatorData = toText(response.authenticatorData);
      json.response.signature = toText(response.signature);
      json.response.userHandle = toText(response.userHandle);
    }
    return JSON.stringify(json);
  }

  function options(url, form) {
    var token = form.querySelector("input[name=csrfmiddlewaretoken]");
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": token ? token.value : "", "Accept": "application/json" }
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) { throw new Error(body.message || "The server refused the passkey request."); }
        return body;
      });
    });
  }

  function explain(error) {
    if (error && error.name === "NotAllowedError") {
      return "The passkey was not used (cancelled, timed out, or no matching key). Press the button to try again.";
    }
    if (error && error.name === "InvalidStateError") {
      return "This passkey is already registered.";
    }
    return (error && error.message) || "The passkey did not work.";
  }

  function fail(form, error) {
    var box = form.querySelector("[data-passkey-error]");
    if (box) {
      box.textContent = explain(error);
      box.hidden = false;
    }
  }

  function resend(form, submitter, field, value) {
    field.value = value;
    form.dataset.passkeyBusy = "";
    if (submitter && submitter.form === form) { form.requestSubmit(submitter); } else { form.requestSubmit(); }
  }

  function stepUp(form, box, submitter) {
    var field = form.querySelector("input[name=passkey_assertion]");
    return options(box.getAttribute("data-passkey-options"), form).then(function (json) {
      return navigator.credentials.get({
        publicKey: Object.assign({}, json, {
          challenge: toBytes(json.challenge),
          allowCredentials: withIds(json.allowCredentials)
        })
      });
    }).then(function (credential) { resend(form, submitter, field, credentialJSON(credential)); });
  }

  function register(form, submitter) {
    var field = form.querySelector("input[name=credential]");
    return options(form.getAttribute("data-passkey-register"), form).then(function (json) {
      return navigator.credentials.create({
        publicKey: Object.assign({}, json, {
          challenge: toBytes(json.challenge),
          user: Object.assign({}, json.user, { id: toBytes(json.user.id) }),
          excludeCredentials: withIds(json.excludeCredentials)
        })
      });
    }).then(function (credential) { resend(form, submitter, field, credentialJSON(credential)); });
  }

  // Capture phase: runs before htmx's own submit handler on the form, and stops it until the
  // browser has the passkey's answer.
  document.addEventListener("submit", function (event) {
    if (!supported) { return; }
    var form = event.target;
    var box = form.querySelector("[data-passkey-options]");
    var run = null;
    if (box && box.querySelector("[data-passkey-ready]")) {
      var answer = form.querySelector("input[name=passkey_assertion]");
      var password = box.querySelector("input[type=password]");
      if (answer.value || (password && password.value)) { return; }
      run = function () { return stepUp(form, box, event.submitter); };
    } else if (form.hasAttribute("data-passkey-register")) {
      var credential = form.querySelector("input[name=credential]");
      var name = form.querySelector("input[name=name]");
      // An empty name goes to the server, which says what is missing.
      if (credential.value || !name || !name.value.trim()) { return; }
      run = function () { return register(form, event.submitter); };
    }
    if (!run) { return; }
    event.preventDefault();
    event.stopImmediatePropagation();
    if (form.dataset.passkeyBusy) { return; }
    form.dataset.passkeyBusy = "1";
    var error = form.querySelector("[data-passkey-error]");
    if (error) { error.hidden = true; }
    run().catch(function (problem) {
      form.dataset.passkeyBusy = "";
      fail(form, problem);
    });
  }, true);
})();
