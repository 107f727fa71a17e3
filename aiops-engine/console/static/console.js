// The console works without this file: every action is a form, every page
// reads fresh on reload. With it: live updates over server-sent events
// (the parts of the page marked live are fetched again and swapped in),
// validation while a playbook is edited, and copying the curl command.
(function () {
  "use strict";
  var live = ["live-list", "live-incident", "live-services"];
  function refresh() {
    var targets = live.map(function (id) { return document.getElementById(id); }).filter(Boolean);
    if (!targets.length) return;
    fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        targets.forEach(function (el) {
          var fresh = doc.getElementById(el.id);
          if (!fresh) return;
          // keep the keyboard where it was when it is inside the swapped part
          var focused = document.activeElement && el.contains(document.activeElement) ? document.activeElement.id : null;
          el.replaceWith(fresh);
          if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
        });
      })
      .catch(function () {});
  }
  if (document.body.dataset.live === "true" && window.EventSource) {
    var pending = null;
    var source = new EventSource("/events");
    source.addEventListener("incident", function () {
      // several changes in one evaluation: one fetch
      if (pending) return;
      pending = setTimeout(function () { pending = null; refresh(); }, 150);
    });
  }
  document.addEventListener("click", function (e) {
    var button = e.target.closest ? e.target.closest("button.copy") : null;
    if (!button) return;
    var text = document.getElementById(button.dataset.copy);
    if (text && navigator.clipboard) navigator.clipboard.writeText(text.textContent);
    button.textContent = "Copied";
  });
  var editor = document.querySelector("textarea[data-validate]");
  if (editor) {
    var timer = null;
    var csrf = document.querySelector("form.editor input[name=csrf]");
    editor.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var body = new URLSearchParams({ yaml: editor.value, csrf: csrf ? csrf.value : "" });
        fetch(editor.dataset.validate, { method: "POST", credentials: "same-origin", body: body })
          .then(function (r) { return r.text(); })
          .then(function (html) { document.getElementById("validation").innerHTML = html; })
          .catch(function () {});
      }, 300);
    });
  }
})();
