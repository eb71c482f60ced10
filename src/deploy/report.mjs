/**
 * The command-line face of the deploy checks, shared by `npm run check:deploy` (check.mjs) and
 * `npm run deploy` (deploy.mjs): argument parsing and the report. Every problem is printed, one
 * line each as `<code>  <message>`, so a reader fixes them all in one pass and a script can grep
 * the codes. Node only; never imported by the Worker.
 */

/** @typedef {import("./run-checks.mjs").CheckReport} CheckReport */

/**
 * Parse `--config <path>` and `--remote`; anything else is returned for the caller to judge.
 * CLOUDFLARE_API_TOKEN set means the machine can reach Cloudflare, so secrets are checked there too.
 * @param {string[]} argv
 * @param {NodeJS.ProcessEnv} env
 */
export function parseCheckArgs(argv, env) {
  let configPath = "wrangler.toml";
  let remote = Boolean(env.CLOUDFLARE_API_TOKEN);
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--remote") remote = true;
    else if (arg === "--config" && i + 1 < argv.length) configPath = argv[++i];
    else if (arg.startsWith("--config=")) configPath = arg.slice("--config=".length);
    else rest.push(arg);
  }
  return { configPath, remote, rest };
}

/**
 * Print the report: problems to stderr, the verdict first, the secrets note last. Returns whether the deploy may go on.
 * @param {CheckReport} report
 * @param {string} configPath
 */
export function printReport(report, configPath) {
  const { problems } = report;
  // A failing report goes to stderr as a whole, so its lines stay in order when both streams show.
  const print = problems.length > 0 ? console.error : console.log;
  if (problems.length > 0) {
    const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
    console.error(`Not ready to deploy: ${count} in ${configPath} (fix each, then run npm run check:deploy again):`);
    const width = Math.max(...problems.map((problem) => problem.code.length));
    for (const problem of problems) console.error(`  ${problem.code.padEnd(width)}  ${problem.message}`);
  } else {
    console.log(`${configPath} [env.production] is ready to deploy as the Worker "${report.worker}".`);
  }
  if (report.secrets === "offline") {
    print(
      "Secrets set on Cloudflare were not checked (offline): npm run check:deploy -- --remote, or npm run deploy, checks them.",
    );
  }
  return problems.length === 0;
}
