// A small JSON Schema (2020-12) validator for the keywords this project's
// documents use: $ref (to the same document), type, enum, const, required,
// properties, additionalProperties, items, pattern, minimum, maximum,
// minLength, maxLength, allOf, anyOf, oneOf, if/then/else. `format`,
// `description`, `examples` and the like are annotations and not checked.
// Any other keyword is refused, so that a schema cannot silently say more
// than is checked.

const ANNOTATIONS = new Set(["$schema", "$id", "$comment", "title", "description", "examples", "format", "default", "deprecated", "readOnly", "writeOnly", "$defs", "definitions", "discriminator", "example", "nullable"]);
const CHECKED = new Set(["$ref", "type", "enum", "const", "required", "properties", "additionalProperties", "items", "pattern", "minimum", "maximum", "minLength", "maxLength", "allOf", "anyOf", "oneOf", "if", "then", "else"]);

const typeOf = (value) =>
  value === null ? "null" : Array.isArray(value) ? "array" : Number.isInteger(value) ? "integer" : typeof value;

const fitsType = (value, type) => typeOf(value) === type || (type === "number" && typeOf(value) === "integer");

const equal = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** The errors of `value` against `schema` (whose `$ref`s point into `root`): [] when it is valid. */
export function validate(value, schema, root = schema, at = "$") {
  if (schema === true) return [];
  if (schema === false) return [`${at}: nothing is allowed here`];
  const errors = [];
  for (const keyword of Object.keys(schema)) {
    if (!CHECKED.has(keyword) && !ANNOTATIONS.has(keyword)) throw new Error(`keyword ${keyword} is not supported (${at})`);
  }
  if (schema.$ref !== undefined) errors.push(...validate(value, resolve(root, schema.$ref), root, at));
  if (schema.type !== undefined) {
    const types = [schema.type].flat();
    if (!types.some((type) => fitsType(value, type))) errors.push(`${at}: ${typeOf(value)} is not ${types.join(" or ")}`);
  }
  if (schema.enum !== undefined && !schema.enum.some((option) => equal(option, value))) {
    errors.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  }
  if (schema.const !== undefined && !equal(schema.const, value)) errors.push(`${at}: is not ${JSON.stringify(schema.const)}`);
  if (typeof value === "string") {
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, "u").test(value)) {
      errors.push(`${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
    }
    const length = [...value].length;
    if (schema.minLength !== undefined && length < schema.minLength) errors.push(`${at}: shorter than ${schema.minLength}`);
    if (schema.maxLength !== undefined && length > schema.maxLength) errors.push(`${at}: longer than ${schema.maxLength}`);
  }
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${at}: ${value} < ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${at}: ${value} > ${schema.maximum}`);
  }
  if (typeOf(value) === "object") {
    for (const name of schema.required ?? []) {
      if (!(name in value)) errors.push(`${at}: ${name} is required`);
    }
    for (const [name, member] of Object.entries(value)) {
      const declared = schema.properties?.[name];
      if (declared !== undefined) errors.push(...validate(member, declared, root, `${at}.${name}`));
      else if (schema.additionalProperties !== undefined) {
        errors.push(...validate(member, schema.additionalProperties, root, `${at}.${name}`));
      }
    }
  }
  if (Array.isArray(value) && schema.items !== undefined) {
    value.forEach((item, i) => errors.push(...validate(item, schema.items, root, `${at}[${i}]`)));
  }
  for (const part of schema.allOf ?? []) errors.push(...validate(value, part, root, at));
  if (schema.anyOf !== undefined && !schema.anyOf.some((part) => validate(value, part, root, at).length === 0)) {
    errors.push(`${at}: matches none of anyOf`);
  }
  if (schema.oneOf !== undefined) {
    const matching = schema.oneOf.filter((part) => validate(value, part, root, at).length === 0).length;
    if (matching !== 1) errors.push(`${at}: matches ${matching} of oneOf, not exactly 1`);
  }
  if (schema.if !== undefined) {
    const branch = validate(value, schema.if, root, at).length === 0 ? schema.then : schema.else;
    if (branch !== undefined) errors.push(...validate(value, branch, root, at));
  }
  return errors;
}

function resolve(root, ref) {
  if (!ref.startsWith("#")) throw new Error(`only references into the same document are supported: ${ref}`);
  return ref
    .slice(1)
    .split("/")
    .filter(Boolean)
    .map((token) => token.replaceAll("~1", "/").replaceAll("~0", "~"))
    .reduce((node, token) => {
      if (node?.[token] === undefined) throw new Error(`unresolved reference ${ref}`);
      return node[token];
    }, root);
}
