// Reads a JSON list of Gateway API objects on stdin; prints a JSON list of problems (empty: all valid).
// The validators come from @kubernetes-models/gateway-api, generated from the Gateway API's CRD schemas:
// types, required fields, enums, ranges and patterns. (The CRD schemas leave unknown fields open, so a
// misspelt optional field is not caught here, unlike kubernetes-validate's strict mode for core kinds.)
import { readFileSync } from "node:fs";

const objects = JSON.parse(readFileSync(0, "utf8"));
const problems = [];
for (const object of objects) {
  const [group, version] = object.apiVersion.split("/");
  const where = `${object.kind} ${object.metadata?.name}`;
  let Model;
  try {
    ({ [object.kind]: Model } = await import(`@kubernetes-models/gateway-api/${group}/${version}/${object.kind}`));
  } catch (error) {
    problems.push(`${where}: no schema for ${object.apiVersion} ${object.kind}`);
    continue;
  }
  try {
    new Model(object).validate();
  } catch (error) {
    problems.push(`${where}: ${error.message}`);
  }
}
console.log(JSON.stringify(problems));
