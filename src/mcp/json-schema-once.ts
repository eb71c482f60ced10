/**
 * Tool schemas converted to JSON Schema once per isolate, not once per request. The SDK converts
 * a tool's input schema (for `tools/list` and the `Mcp-Param-*` header check of every modern
 * `tools/call`) and its output schema (for every `tools/call` result) each time a fresh server
 * registers the tool. Wrapping a module-level schema here memoises its Standard JSON Schema
 * converters per target; the result is deep-frozen, so no request can change what the next one
 * sees. Validation (`~standard.validate`) is untouched.
 */

type JsonObject = Record<string, unknown>;
type ConvertOptions = { readonly target: string; readonly libraryOptions?: Record<string, unknown> };
type Converter = (options: ConvertOptions) => JsonObject;

interface ConvertibleSchema {
  "~standard": { jsonSchema: { input: Converter; output: Converter } };
}

/** Freeze a JSON value and everything inside it. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

function memoised(convert: Converter): Converter {
  const byTarget = new Map<string, JsonObject>();
  return (options) => {
    // Library options change the output; such a call is rare and is not cached.
    if (options.libraryOptions !== undefined) return convert(options);
    let converted = byTarget.get(options.target);
    if (converted === undefined) {
      converted = deepFreeze(convert(options));
      byTarget.set(options.target, converted);
    }
    return converted;
  };
}

/** The same schema, its JSON Schema conversions computed once per target and then shared. */
export function jsonSchemaOnce<S extends ConvertibleSchema>(schema: S): S {
  const standard = schema["~standard"];
  const jsonSchema = { input: memoised(standard.jsonSchema.input), output: memoised(standard.jsonSchema.output) };
  // Not enumerable, as zod defines it, so the schema's own keys are unchanged.
  Object.defineProperty(schema, "~standard", {
    configurable: true,
    writable: true,
    enumerable: false,
    value: { ...standard, jsonSchema },
  });
  return schema;
}
