/**
 * `npm run deploy [-- <wrangler deploy flags>]`: the checks of `npm run check:deploy`, with the
 * secrets asked of Cloudflare, then `wrangler deploy --env production`. Nothing is deployed
 * while any problem remains. Flags that would make this deploy differ from the configuration
 * (`--var`, `--env`, `--name`, `--keep-vars`) are refused: the next deploy would forget them,
 * which is how PUBLIC_URL used to fall back to localhost. Other flags (for example `--dry-run`)
 * go to wrangler as given.
 */
import { spawn } from "node:child_process";
import { PRODUCTION_ENV } from "./checks.mjs";
import { parseCheckArgs, printReport } from "./report.mjs";
import { runChecks } from "./run-checks.mjs";

const ONE_OFF_FLAGS = ["--var", "--env", "-e", "--name", "--keep-vars", "--define"];

const { configPath, rest } = parseCheckArgs(process.argv.slice(2), process.env);
const oneOff = rest.map((arg) => arg.split("=")[0]).filter((flag) => ONE_OFF_FLAGS.includes(flag));
if (oneOff.length > 0) {
  const problems = oneOff.map((flag) => ({
    code: "one_off_flag",
    message: `${flag} is not accepted: the next deploy would forget it; write the setting in [env.${PRODUCTION_ENV}] of ${configPath}`,
  }));
  printReport({ problems, secrets: "remote", worker: "" }, configPath);
  process.exit(1);
}
const report = await runChecks({ configPath, remote: true });
if (!printReport(report, configPath)) process.exit(1);

const child = spawn("wrangler", ["deploy", "--env", PRODUCTION_ENV, "--config", configPath, ...rest], {
  stdio: "inherit",
  env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
});
child.on("error", (error) => {
  console.error(`could not run wrangler: ${error.message}`);
  process.exit(1);
});
child.on("close", (status) => process.exit(status ?? 1));
