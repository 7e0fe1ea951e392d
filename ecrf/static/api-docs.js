// The API docs page: Swagger UI on the app's OpenAPI document (a file, so the page needs no inline script).
(function () {
  var root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({ url: root.dataset.specUrl, domNode: root, deepLinking: true });
})();
