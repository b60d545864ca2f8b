// ipywidgets' html-manager 1.0.6 typesets widget labels with the MathJax 2 API
// (MathJax.Hub.Queue), but this site loads MathJax 3, which has no Hub: every widget label then
// throws "Cannot read properties of undefined (reading 'Queue')". Give whatever object is
// assigned to window.MathJax (the config first, MathJax 3 itself later) a Hub that forwards
// to MathJax 3's typesetPromise.
(function () {
  function withHub(mathjax) {
    if (mathjax && typeof mathjax === "object" && !mathjax.Hub) {
      mathjax.Hub = {
        Queue: function (job) {
          var element = job && job[2];
          if (element && window.MathJax && window.MathJax.typesetPromise) {
            window.MathJax.typesetPromise([element]).catch(function () {});
          }
        },
      };
    }
    return mathjax;
  }
  var current = withHub(window.MathJax);
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    get: function () { return current; },
    set: function (value) { current = withHub(value); },
  });
})();
