/*
 * Prints the Markdown table of the deploy benchmark's recorded runs
 * (bench/results/deploy-*.jsonl), the table the README quotes:
 *
 *   yarn bench:results
 */
import fs from 'node:fs';
import path from 'node:path';

const RESULTS_DIR = path.join(__dirname, 'results');

interface DeployRun {
  run: string;
  date: string;
  command: string;
  commit: string;
  rounds: number;
  uptime: { before: string };
  single: {
    ratio: number;
    kubeDeliveryMedianMs: number;
    kubectlMedianMs: number;
    own: { ratio: number };
  };
  boutique?: { ratioRollToKubectl: number };
}

const loadOf = (uptime: string) =>
  uptime.match(/load average: ([\d.]+)/)?.[1] ?? '?';

const files = fs
  .readdirSync(RESULTS_DIR)
  .filter(name => /^deploy-.*\.jsonl$/.test(name))
  .sort();
console.log(
  '| file | command | commit | load before | one service: Kube Delivery / kubectl (observed medians) | own accounts | 11 services at once |',
);
console.log('|---|---|---|---|---|---|---|');
const runs = files
  .flatMap(file =>
    fs
      .readFileSync(path.join(RESULTS_DIR, file), 'utf8')
      .split('\n')
      .filter(line => line.trim())
      .map(line => ({ file, r: JSON.parse(line) as DeployRun })),
  )
  .sort((a, b) => a.r.date.localeCompare(b.r.date));
for (const { file, r } of runs) {
  const single = `${r.single.ratio} (${(
    r.single.kubeDeliveryMedianMs / 1000
  ).toFixed(2)} s / ${(r.single.kubectlMedianMs / 1000).toFixed(2)} s, ${
    r.rounds
  } rounds)`;
  const boutique = r.boutique
    ? String(r.boutique.ratioRollToKubectl)
    : 'not run';
  console.log(
    `| \`bench/results/${file}\` | \`${r.command}\` | ${r.commit.slice(
      0,
      7,
    )} | ${loadOf(r.uptime.before)} | ${single} | ${
      r.single.own.ratio
    } | ${boutique} |`,
  );
}
