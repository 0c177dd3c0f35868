(function () {
  // Runs first: every error, rejected promise, blocked request (CSP) and alert() is recorded
  // and shown on the page, so a broken report says so and a browser test can read it.
  var errors = [];
  function record(message) {
    errors.push(String(message));
    var el = document.getElementById("report-errors");
    if (el) { el.textContent = errors.join("\n"); el.hidden = false; }
    if (document.body) document.body.setAttribute("data-errors", String(errors.length));
  }
  window.addEventListener("error", function (e) {
    var where = e.filename ? " at " + e.filename + ":" + e.lineno : "";
    var what = e.message || ("failed to load " + ((e.target && (e.target.src || e.target.href)) || e.type));
    record("error: " + what + where);
  }, true);
  window.addEventListener("unhandledrejection", function (e) { record("unhandled rejection: " + e.reason); });
  document.addEventListener("securitypolicyviolation", function (e) {
    record("blocked by the content security policy: " + e.violatedDirective + " " + e.blockedURI);
  });
  var consoleError = console.error;
  console.error = function () {
    record("console.error: " + Array.prototype.join.call(arguments, " "));
    return consoleError.apply(console, arguments);
  };
  window.alert = function (m) { record("alert: " + m); };
  window.dnshuntErrors = errors;
  window.dnshuntRecordError = record;
})();
