// The API reference: Swagger UI over the gateway's own /openapi.json, whose
// `servers` entry ("/") sends "Try it out" requests to this same origin.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  // No badge from the public validator: nothing leaves this origin.
  validatorUrl: null,
  displayOperationId: true,
  displayRequestDuration: true,
  defaultModelsExpandDepth: 0,
});
