// Builds the panel and cards into one deterministic ES module inside the integration.
//
//   node build.mjs [OUTDIR]   (default: ../custom_components/phoenyra_ems/frontend)
//
// No timestamps, no hashes, no source maps with absolute paths: the same sources and lock file give the
// same bytes, so scripts/build_frontend --check can compare the committed bundle with a fresh build. The
// .gz beside it is checked by its content (zlib builds may compress differently).
import { build } from "esbuild";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outdir = resolve(process.argv[2] || join(here, "..", "custom_components", "phoenyra_ems", "frontend"));
mkdirSync(outdir, { recursive: true });

const result = await build({
  absWorkingDir: here,
  entryPoints: ["src/index.js"],
  outfile: join(outdir, "phoenyra-ems.js"),
  bundle: true,
  format: "esm",
  target: ["es2021"],
  minify: true,
  legalComments: "eof",
  charset: "utf8",
  sourcemap: false,
  metafile: true,
  define: { "process.env.NODE_ENV": '"production"' },
  banner: { js: "// Phoenyra EMS panel and cards. Built from frontend/ by scripts/build_frontend; do not edit." },
  logLevel: "warning",
});
const bundle = join(outdir, "phoenyra-ems.js");
const bytes = Object.values(result.metafile.outputs).reduce((sum, output) => sum + output.bytes, 0);
// Home Assistant's static files are served pre-compressed when a .gz lies beside them (a third of the size).
const gzipped = gzipSync(readFileSync(bundle), { level: 9 });
writeFileSync(`${bundle}.gz`, gzipped);
console.log(`built ${bundle} (${bytes} bytes, ${gzipped.length} gzipped)`);
