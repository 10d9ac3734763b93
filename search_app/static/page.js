// Progressive enhancement of the search form and the document view; everything works without it.
// - changing the mode or the page size re-runs the search at once;
// - a box above the document list narrows it as one types;
// - on a phone the document outline starts collapsed (the text comes first).
(function () {
  "use strict";

  function rerunOnChange(form) {
    var fields = form.querySelectorAll("input[name=mode], select[name=size]");
    Array.prototype.forEach.call(fields, function (field) {
      field.addEventListener("change", function () {
        if (form.querySelector("#q").value.trim()) { form.submit(); }
      });
    });
  }

  function filterDocuments(box) {
    var select = document.getElementById(box.getAttribute("data-filters"));
    if (!select) { return; }
    box.hidden = false;
    box.addEventListener("input", function () {
      var needle = box.value.trim().toLowerCase();
      Array.prototype.forEach.call(select.querySelectorAll("option[data-title]"), function (opt) {
        opt.hidden = needle !== "" && opt.getAttribute("data-title").toLowerCase().indexOf(needle) < 0;
      });
    });
  }

  var form = document.querySelector("form.search-form");
  if (form && form.querySelector("#q")) { rerunOnChange(form); }
  Array.prototype.forEach.call(document.querySelectorAll("input[data-filters]"), filterDocuments);
  var outline = document.querySelector("details.outline");
  if (outline && window.matchMedia && window.matchMedia("(max-width: 700px)").matches) {
    outline.open = false;
  }
})();
