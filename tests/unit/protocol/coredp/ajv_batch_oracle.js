"use strict";
// Batch AJV oracle for the core and core-dp schemas, set up as the upstream core-dp runner does:
// Ajv (draft-07) and Ajv2020 (+ draft-07 meta-schema), allErrors, strict false, ajv-formats.
// Usage: NODE_PATH=tests/oracle/ajv/node_modules node ajv_batch_oracle.js REFERENCE_DIR
// stdin: [{"schema": NAME, "payload": ANY}, ...] (NAME: $id, repository path or file name)
// stdout: [{"valid": BOOL, "errors": [{"instancePath", "keyword", "message"}]}, ...]
const fs = require("fs");
const path = require("path");
const Ajv = require("ajv");
const Ajv2020 = require("ajv/dist/2020");
const draft7 = require("ajv/dist/refs/json-schema-draft-07.json");
const addFormats = require("ajv-formats");

const reference = process.argv[2];
const make = (Ctor) => {
  const ajv = new Ctor({ allErrors: true, strict: false, allowUnionTypes: true });
  addFormats(ajv);
  return ajv;
};
const ajv7 = make(Ajv);
const ajv2020 = make(Ajv2020);
ajv2020.addMetaSchema(draft7);
const dirs = ["schemas", "profiles/core-dp/schemas"];
const records = dirs.flatMap((dir) =>
  fs.readdirSync(path.join(reference, dir)).filter((f) => f.endsWith(".schema.json")).map((f) => {
    const schema = JSON.parse(fs.readFileSync(path.join(reference, dir, f), "utf8"));
    return { repoPath: `${dir}/${f}`, schema, is2020: (schema.$schema || "").includes("2020-12") };
  }),
);
for (const r of records) {
  if (!r.is2020) ajv7.addSchema(r.schema, r.schema.$id);
  ajv2020.addSchema(r.schema, r.schema.$id);
}
const validators = new Map();
for (const r of records) {
  const validate = (r.is2020 ? ajv2020 : ajv7).getSchema(r.schema.$id);
  for (const name of [r.repoPath, path.basename(r.repoPath), r.schema.$id]) validators.set(name, validate);
}
const requests = JSON.parse(fs.readFileSync(0, "utf8"));
const answers = requests.map(({ schema, payload }) => {
  const validate = validators.get(schema);
  const valid = validate(payload);
  const errors = (validate.errors || []).map((e) => ({
    instancePath: e.instancePath, keyword: e.keyword, message: e.message,
  }));
  return { valid, errors };
});
process.stdout.write(JSON.stringify(answers));
