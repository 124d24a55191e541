// validate.mjs - checks a multi-document Kubernetes YAML file against the Kubernetes OpenAPI
// schema (kubernetes-models, which validates with ajv) and prints one line per document.
// Usage: node validate.mjs FILE.yaml   (exit 0 all valid, 1 some invalid, 2 unreadable)
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";

const file = process.argv[2];
let text;
try {
  text = readFileSync(file, "utf8");
} catch (err) {
  console.error(`validate: ${file}: ${err.message}`);
  process.exit(2);
}
const kinds = { Deployment };
let bad = 0, n = 0;
for (const doc of parseAllDocuments(text)) {
  if (doc.errors.length) {
    console.error(`validate: ${file}: YAML: ${doc.errors[0].message}`);
    process.exit(2);
  }
  const obj = doc.toJS();
  if (obj === null) continue;
  n++;
  const Kind = kinds[obj.kind];
  const name = obj.metadata && obj.metadata.name;
  if (!Kind || obj.apiVersion !== "apps/v1") {
    console.log(`INVALID ${name}: unexpected ${obj.apiVersion} ${obj.kind}`);
    bad++;
    continue;
  }
  try {
    new Kind(obj).validate();
  } catch (err) {
    console.log(`INVALID ${name}: ${err.message.split("\n")[0]}`);
    bad++;
  }
}
console.log(`${n} documents, ${bad} invalid`);
process.exit(bad || n === 0 ? 1 : 0);
