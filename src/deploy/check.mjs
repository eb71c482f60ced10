/**
 * `npm run check:deploy [-- --remote] [--config <path>]`: every check `npm run deploy` makes,
 * without deploying. Exit code 0 when the production environment is ready, 1 when it is not
 * (each problem printed with its code), 2 on a bad argument. Offline by default; `--remote` (or
 * CLOUDFLARE_API_TOKEN in the environment) also asks Cloudflare which secrets are set.
 */
import { parseCheckArgs, printReport } from "./report.mjs";
import { runChecks } from "./run-checks.mjs";

const { configPath, remote, rest } = parseCheckArgs(process.argv.slice(2), process.env);
if (rest.length > 0) {
  console.error(`unexpected argument "${rest[0]}": use npm run check:deploy [-- --remote] [--config <path>]`);
  process.exit(2);
}
const report = await runChecks({ configPath, remote });
process.exit(printReport(report, configPath) ? 0 : 1);
