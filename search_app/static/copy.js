// Progressive enhancement: a "复制" button beside each permalink (a[data-copy]).
// Without JavaScript the permalink is a plain link that can be copied from the context menu.
(function () {
  "use strict";

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "copy-buffer";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); });
    }
    return fallbackCopy(text);
  }

  function enhance(link) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy-link";
    button.textContent = "复制";
    button.setAttribute("aria-label", "复制段落链接");
    button.addEventListener("click", function () {
      var url = link.href; // already absolute
      copy(url).then(function () {
        button.textContent = "已复制";
      }, function () {
        button.textContent = "请手动复制";
      });
      button.setAttribute("data-copied", url);
      window.setTimeout(function () { button.textContent = "复制"; }, 2000);
    });
    link.insertAdjacentElement("afterend", button);
  }

  Array.prototype.forEach.call(document.querySelectorAll("a[data-copy]"), enhance);
})();
