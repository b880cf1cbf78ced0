#!/usr/bin/env node
// The schema and the controller's parser must agree. Every file in crd-schemas/examples is
// validated by ajv (a real JSON Schema validator, from `npm ci` at the repo root) and by
// `rolloutctl validate --output json` (the C++ ParseRollout). The run fails when:
//   - the two disagree on any file (valid for one, invalid for the other),
//   - a file in valid/ is invalid, or a file in invalid/ is valid,
//   - an invalid example has no .why sidecar, or either validator reports no error at the
//     JSON pointer its .why names,
//   - a schema does not compile under ajv's strict mode.
// Exit 77 (ctest SKIP_RETURN_CODE) when node_modules/ajv is missing.
"use strict";

const fs = require("fs");
const path = require("path");
const { execFileSync } = require("child_process");

function arg(name) {
  const i = process.argv.indexOf(name);
  if (i < 0 || i + 1 >= process.argv.length) {
    console.error(`usage: check_examples.js --root REPO --rolloutctl BINARY (missing ${name})`);
    process.exit(2);
  }
  return process.argv[i + 1];
}

const root = path.resolve(arg("--root"));
const rolloutctl = arg("--rolloutctl");

let Ajv2020, addFormats;
try {
  Ajv2020 = require(require.resolve("ajv/dist/2020", { paths: [root] }));
  addFormats = require(require.resolve("ajv-formats", { paths: [root] }));
} catch (e) {
  console.log(`SKIP: ajv not installed under ${root}/node_modules (run \`npm ci\` there)`);
  process.exit(77);
}

// $data: the standbyTag != activeTag rule uses ajv's $data reference (other validators
// read it as a const that never matches, so the rule degrades to "not checked").
const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, $data: true });
addFormats(ajv);
const schemaDir = path.join(root, "crd-schemas");
const rolloutSchema =
  JSON.parse(fs.readFileSync(path.join(schemaDir, "rollout.schema.json"), "utf8"));

// The schema's two custom keywords, for rules JSON Schema cannot state. A generic validator
// ignores them; registered here, ajv enforces them and reports at the same pointers as the
// C++ parser (instancePath set explicitly, so effectivePointers needs no special case).
const hasOwn = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key);

// A duration as ParseDuration reads it: exactly the schema's $defs/duration syntax, in ms.
// BigInt, because four parts of 999999999h exceed 2^53 ms.
const durationPattern = new RegExp(rolloutSchema.$defs.duration.pattern, "u");
const unitMs = { h: 3600000n, m: 60000n, s: 1000n, ms: 1n };
function durationMs(text) {
  if (typeof text !== "string" || !durationPattern.test(text)) return null;
  let ms = 0n;
  for (const [, digits, unit] of text.matchAll(/([0-9]+)(ms|h|m|s)/g)) {
    ms += BigInt(digits) * unitMs[unit];
  }
  return ms;
}

// "x-durationLessThan": [a, b] on an object: duration a < duration b, strictly, each at its
// "default" (from the sibling "properties") when absent; skipped when either is not a
// well-formed duration (its own keyword reports that). Reported at a when a was given,
// else at b.
ajv.addKeyword({
  keyword: "x-durationLessThan",
  type: "object",
  schemaType: "array",
  metaSchema: { type: "array", items: { type: "string" }, minItems: 2, maxItems: 2 },
  errors: true,
  compile(names, parentSchema) {
    const [shorter, longer] = names.map((name) => {
      const def = ((parentSchema.properties || {})[name] || {}).default;
      if (typeof def !== "string" || durationMs(def) === null) {
        throw new Error(`x-durationLessThan: property ${name} needs a duration "default"`);
      }
      return { name, def };
    });
    const effective = (data, { name, def }) =>
      hasOwn(data, name) ? { text: data[name], ms: durationMs(data[name]), given: true }
                         : { text: def, ms: durationMs(def), given: false };
    const validate = (data, dataCxt) => {
      const a = effective(data, shorter);
      const b = effective(data, longer);
      if (a.ms === null || b.ms === null || a.ms < b.ms) return true;
      const at = a.given ? shorter.name : longer.name;
      validate.errors = [{
        instancePath: `${dataCxt.instancePath}/${escapeToken(at)}`,
        keyword: "x-durationLessThan",
        params: { shorter: shorter.name, longer: longer.name },
        message: `${shorter.name} must be shorter than ${longer.name} (${a.text} >= ${b.text})`,
      }];
      return false;
    };
    return validate;
  },
});

// "x-uniqueBy": key on an array: no two object items hold the same string under key. Each
// repeat is reported at its own key, naming the first item that used the value.
ajv.addKeyword({
  keyword: "x-uniqueBy",
  type: "array",
  schemaType: "string",
  errors: true,
  validate: function uniqueBy(key, data, parentSchema, dataCxt) {
    const firstUse = new Map();
    const errors = [];
    data.forEach((item, i) => {
      if (item === null || typeof item !== "object" || Array.isArray(item)) return;
      if (!hasOwn(item, key) || typeof item[key] !== "string") return;
      if (!firstUse.has(item[key])) {
        firstUse.set(item[key], i);
        return;
      }
      errors.push({
        instancePath: `${dataCxt.instancePath}/${i}/${escapeToken(key)}`,
        keyword: "x-uniqueBy",
        params: { key, first: firstUse.get(item[key]) },
        message: `duplicate ${key} ${JSON.stringify(item[key])} (also item ${firstUse.get(item[key])})`,
      });
    });
    uniqueBy.errors = errors;
    return errors.length === 0;
  },
});

const validateRollout = ajv.compile(rolloutSchema);

const failures = [];
const fail = (msg) => failures.push(msg);

function escapeToken(s) {
  return String(s).replace(/~/g, "~0").replace(/\//g, "~1");
}

// Where an ajv error points in the document. ajv reports a missing or unknown property, or
// a bad property name, at the enclosing object; the C++ parser (and the .why files) point
// at the property itself.
function effectivePointers(err) {
  const p = err.instancePath;
  const out = [p];
  if (err.keyword === "required") out.push(`${p}/${escapeToken(err.params.missingProperty)}`);
  if (err.keyword === "additionalProperties") {
    out.push(`${p}/${escapeToken(err.params.additionalProperty)}`);
  }
  if (err.propertyName !== undefined) out.push(`${p}/${escapeToken(err.propertyName)}`);
  if (err.params && err.params.propertyName !== undefined) {
    out.push(`${p}/${escapeToken(err.params.propertyName)}`);
  }
  return out;
}

function ajvVerdict(file) {
  let doc;
  try {
    doc = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    return { valid: false, pointers: new Set([""]), text: `not JSON: ${e.message}` };
  }
  const valid = validateRollout(doc);
  const errors = validateRollout.errors || [];
  return {
    valid,
    pointers: new Set(errors.flatMap(effectivePointers)),
    text: errors.map((e) => `${e.instancePath} ${e.keyword} ${e.message}`).join("; "),
  };
}

function whyPointer(file) {
  const why = file.replace(/\.json$/, ".why");
  if (!fs.existsSync(why)) {
    fail(`${path.relative(root, file)}: no .why sidecar naming the rule it breaks`);
    return null;
  }
  const line = fs.readFileSync(why, "utf8").split("\n").find((l) => l.startsWith("pointer:"));
  const rule = fs.readFileSync(why, "utf8").split("\n").find((l) => l.startsWith("rule:"));
  if (line === undefined || rule === undefined) {
    fail(`${path.relative(root, why)}: needs a "pointer:" and a "rule:" line`);
    return null;
  }
  return line.slice("pointer:".length).trim();
}

const examples = [];
for (const kind of ["valid", "invalid"]) {
  const dir = path.join(schemaDir, "examples", kind);
  for (const name of fs.readdirSync(dir).sort()) {
    if (name.endsWith(".json")) examples.push({ kind, file: path.join(dir, name) });
    if (name.endsWith(".why") && !fs.existsSync(path.join(dir, name.replace(/\.why$/, ".json")))) {
      fail(`${kind}/${name}: .why without its .json`);
    }
  }
}

// One rolloutctl run over many files; its JSON report gives the C++ verdicts by file.
function cppVerdicts(files) {
  let report;
  try {
    const out = execFileSync(rolloutctl, ["validate", "--output", "json", ...files],
                             { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"],
                               maxBuffer: 256 * 1024 * 1024 });
    report = JSON.parse(out);
  } catch (e) {
    if (e.status === 1 && e.stdout) {
      report = JSON.parse(e.stdout);  // exit 1 = some file invalid: expected here
    } else {
      console.error(`rolloutctl validate failed (exit ${e.status}): ${e.stderr || e.message}`);
      process.exit(1);
    }
  }
  return new Map(report.files.map((f) => [f.file, f]));
}
const cpp = cppVerdicts(examples.map((e) => e.file));

let agreed = 0;
for (const { kind, file } of examples) {
  const rel = path.relative(root, file);
  const a = ajvVerdict(file);
  const c = cpp.get(file);
  if (c === undefined) {
    fail(`${rel}: missing from rolloutctl's report`);
    continue;
  }
  const cppText = c.errors.map((e) => `${e.pointer}: ${e.message}`).join("; ");
  if (a.valid !== c.valid) {
    fail(`${rel}: DISAGREEMENT ajv says ${a.valid ? "valid" : "invalid"} [${a.text}], ` +
         `C++ says ${c.valid ? "valid" : "invalid"} [${cppText}]`);
    continue;
  }
  agreed++;
  if ((kind === "valid") !== a.valid) {
    fail(`${rel}: in ${kind}/ but both validators say ${a.valid ? "valid" : "invalid"} ` +
         `[ajv: ${a.text}] [C++: ${cppText}]`);
    continue;
  }
  if (kind === "invalid") {
    const want = whyPointer(file);
    if (want === null) continue;
    if (!a.pointers.has(want)) fail(`${rel}: ajv reports nothing at "${want}" [${a.text}]`);
    if (!c.errors.some((e) => e.pointer === want)) {
      fail(`${rel}: C++ reports nothing at "${want}" [${cppText}]`);
    }
  }
}

console.log(`${examples.length} examples, ${agreed} verdicts agreed between ajv and rolloutctl`);

// Status documents: only the controller writes them, so there is no C++ validator to agree
// with; schema_test checks instead that each valid example is exactly what StatusToJson
// writes back after StatusFromJson. Here: valid ones pass, invalid ones fail where .why says.
const validateStatus = ajv.compile(
  JSON.parse(fs.readFileSync(path.join(schemaDir, "rollout-status.schema.json"), "utf8")));
let statusCount = 0;
for (const kind of ["valid", "invalid"]) {
  const dir = path.join(schemaDir, "examples", "status", kind);
  for (const name of fs.readdirSync(dir).sort().filter((n) => n.endsWith(".json"))) {
    const file = path.join(dir, name);
    const rel = path.relative(root, file);
    statusCount++;
    const valid = validateStatus(JSON.parse(fs.readFileSync(file, "utf8")));
    const errors = validateStatus.errors || [];
    const text = errors.map((e) => `${e.instancePath} ${e.keyword} ${e.message}`).join("; ");
    if (valid !== (kind === "valid")) {
      fail(`${rel}: in status/${kind}/ but ajv says ${valid ? "valid" : "invalid"} [${text}]`);
    } else if (kind === "invalid") {
      const want = whyPointer(file);
      if (want !== null && !errors.flatMap(effectivePointers).includes(want)) {
        fail(`${rel}: ajv reports nothing at "${want}" [${text}]`);
      }
    }
  }
}
console.log(`${statusCount} status examples checked against rollout-status.schema.json`);

// Beyond the curated examples: every field of the valid examples replaced, in turn, by
// each value of a pool of near-misses (pattern edges, lengths, wrong types), plus unknown
// and deleted fields and odd map keys. Only agreement is checked here; which verdict is
// right is the curated examples' job.
const valuePool = [
  "", " ", "a", "A", "a-", "-a", "a_b", "a.b", "a/b", "a b", "é", "x".repeat(63),
  "x".repeat(64), "x".repeat(128), "x".repeat(129), "x".repeat(257), "0", "00", "0s", "0ms",
  "1s", "1.5s", "1h30m", "500ms", "1ms1s1m1h", "1h1h1h1h1h", "1234567890s", "1d", "-1s",
  "< 0.01", "<=1", ">= -2.5", "== 0", "=1", "<", "< 1.", "< .5", "<  1", "> 1234567890123456",
  "/Config/x", "/healthz", "/a b", "healthz", "{{version}}", "{{ version }}", "{{job}}",
  "{{version}", "{", "}}", "active", "standby", "prometheus", "rollouts.nomad.io/v1",
  "Rollout", 0, 1, -1, 1.5, 1.0, 2, 1000, 1001, 100000, 100001, 1e2, -0.0001, true, false,
  null, [], {}, ["a", "b"], ["a", "a"], ["a"], ["a", "b", "c"], [1, 2], { probe: {} },
  "\u{1F600}".repeat(256), "\u{1F600}".repeat(257), "\u00e9".repeat(1025), "a\nb", "\n",
  "a\u0000", "\u0661", "1\u0661s", "/\u00e9", "< \u0661",
  // minHealthyTime vs healthyDeadline: equal to the 2m default written two ways, just below
  // it, and the largest duration (beyond 2^53 ms).
  "2m", "120000ms", "1m59s999ms", "999999999h999999999h999999999h999999999h",
];
const keyPool = [
  "/Config/x", "/Config", "/Config/", "/Config//x", "/Config/a/b/c/d/e/f/g/h/i", "/Env/A",
  "/Env/_a", "/Env/1A", "/Env/a-b", "/Env/", "/Cmd", "a", "a/b", "a.b", "-a", "a-",
  "x".repeat(63), "x".repeat(64), "rollouts.nomad.io/owner", "é", "",
];

function leafPaths(value, at = []) {
  if (value === null || typeof value !== "object") return [at];
  const out = at.length > 0 ? [at] : [];
  for (const key of Object.keys(value)) out.push(...leafPaths(value[key], [...at, key]));
  return out;
}
function setAt(doc, at, value) {
  const copy = JSON.parse(JSON.stringify(doc));
  let node = copy;
  for (const key of at.slice(0, -1)) node = node[key];
  if (value === undefined) {
    if (Array.isArray(node)) node.splice(Number(at[at.length - 1]), 1);
    else delete node[at[at.length - 1]];
  } else {
    node[at[at.length - 1]] = value;
  }
  return copy;
}

const mutants = [];
for (const { kind, file } of examples) {
  if (kind !== "valid") continue;
  const base = JSON.parse(fs.readFileSync(file, "utf8"));
  for (const at of leafPaths(base)) {
    for (const v of valuePool) mutants.push(setAt(base, at, v));
    mutants.push(setAt(base, at, undefined));
    const node = at.reduce((n, k) => n[k], base);
    // An array with its first item repeated (a duplicate group, a metric name used twice).
    if (Array.isArray(node) && node.length > 0) mutants.push(setAt(base, at, [...node, node[0]]));
    if (node !== null && typeof node === "object" && !Array.isArray(node)) {
      mutants.push(setAt(base, [...at, "extra"], 1));
      for (const k of keyPool) mutants.push(setAt(base, [...at, k], "v"));
    }
  }
}
const tmp = fs.mkdtempSync(path.join(require("os").tmpdir(), "rollout-mutants-"));
try {
  const files = mutants.map((doc, i) => {
    const f = path.join(tmp, `m${String(i).padStart(6, "0")}.json`);
    fs.writeFileSync(f, JSON.stringify(doc));
    return f;
  });
  const verdicts = cppVerdicts(files);
  let disagreements = 0;
  files.forEach((f, i) => {
    const valid = validateRollout(mutants[i]);
    const c = verdicts.get(f);
    if (c === undefined || c.valid !== valid) {
      if (++disagreements <= 20) {
        fail(`mutant DISAGREEMENT ajv ${valid ? "valid" : "invalid"}, C++ ` +
             `${c && c.valid ? "valid" : "invalid"}: ${JSON.stringify(mutants[i]).slice(0, 2000)}` +
             ` [C++: ${c ? c.errors.map((e) => `${e.pointer}: ${e.message}`).join("; ") : "?"}]`);
      }
    }
  });
  const validCount = mutants.filter((m) => validateRollout(m)).length;
  console.log(`${mutants.length} mutants (${validCount} valid), ${disagreements} disagreements`);
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
if (examples.length === 0) fail("no examples found");
if (failures.length > 0) {
  for (const f of failures) console.error(`FAIL ${f}`);
  process.exit(1);
}
console.log("OK");
