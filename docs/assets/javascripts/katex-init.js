// Typeset the math that pymdownx.arithmatex (generic mode) leaves as \( \) and \[ \]
// inside .arithmatex elements, with the KaTeX files served by this site. Runs on every
// page view, including Material's instant navigation (document$).
(function () {
  function render(root) {
    renderMathInElement(root, {
      delimiters: [
        { left: "\\[", right: "\\]", display: true },
        { left: "\\(", right: "\\)", display: false },
      ],
      throwOnError: false,
    });
  }
  function typeset() {
    document.querySelectorAll(".arithmatex").forEach(render);
    // headings with math appear as plain text in the table of contents
    document.querySelectorAll(".md-nav__link").forEach(render);
  }
  if (typeof document$ !== "undefined") {
    document$.subscribe(typeset);
  } else {
    document.addEventListener("DOMContentLoaded", typeset);
  }
})();
