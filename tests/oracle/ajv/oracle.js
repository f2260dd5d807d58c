"use strict";
// The upstream validator as a test oracle: AJV 8 + ajv-formats 3, set up exactly as the LOOP
// repository's scripts do (`new Ajv({strict: false, allErrors: true})` + `addFormats(ajv)`, draft-07).
//
// Usage: node oracle.js REFERENCE_DIR
// Protocol (one JSON document per line, both ways):
//   stdin  {"schema": NAME, "payload": ANY}
//   stdout {"valid": BOOL, "errors": [AJV error objects]}   or   {"error": MESSAGE}
// NAME is a schema file stem ("material-dna", "loopcoin", ...: the whole schema, oneOf included),
// a definition name of a oneOf schema ("LoopCoinConfig", ...), or an openapi component name
// ("MaterialAnnouncement", "MaterialOffer"). The first line written is {"ready": true, "schemas": [...]}.

const fs = require("fs");
const path = require("path");
const readline = require("readline");
const Ajv = require("ajv");
const addFormats = require("ajv-formats");

const OPENAPI_COMPONENTS = ["MaterialAnnouncement", "MaterialOffer"];

function loadRegistry(referenceDir) {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  const ids = {};
  const schemaDir = path.join(referenceDir, "schemas");
  const files = fs.readdirSync(schemaDir).filter((f) => f.endsWith(".schema.json")).sort();
  for (const file of files) {
    const schema = JSON.parse(fs.readFileSync(path.join(schemaDir, file), "utf8"));
    ajv.addSchema(schema);
    ids[file.replace(/\.schema\.json$/, "")] = schema.$id;
    for (const name of Object.keys(schema.definitions || {})) {
      ids[name] = `${schema.$id}#/definitions/${name}`;
    }
  }
  const openapi = JSON.parse(fs.readFileSync(path.join(referenceDir, "openapi.json"), "utf8"));
  for (const name of OPENAPI_COMPONENTS) {
    const id = `urn:loop-openapi:components:${name}`;
    ajv.addSchema({ ...openapi.components.schemas[name], $id: id });
    ids[name] = id;
  }
  return { ajv, ids };
}

function main() {
  const referenceDir = process.argv[2] || process.env.LOOP_REFERENCE_DIR;
  if (!referenceDir) {
    process.stderr.write("usage: node oracle.js REFERENCE_DIR\n");
    process.exit(2);
  }
  const { ajv, ids } = loadRegistry(referenceDir);
  // Compile everything up front so that a broken schema fails at start, not mid-test.
  const validators = {};
  for (const [name, id] of Object.entries(ids)) validators[name] = ajv.getSchema(id);

  const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
  out({ ready: true, schemas: Object.keys(validators).sort() });

  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on("line", (line) => {
    if (!line.trim()) return;
    let request;
    try {
      request = JSON.parse(line);
    } catch (err) {
      out({ error: `bad request line: ${err.message}` });
      return;
    }
    const validate = validators[request.schema];
    if (!validate) {
      out({ error: `unknown schema ${JSON.stringify(request.schema)}` });
      return;
    }
    const valid = validate(request.payload);
    out({ valid, errors: valid ? [] : validate.errors });
  });
}

main();
