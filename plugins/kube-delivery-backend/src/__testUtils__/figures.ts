/**
 * Prints a suite's figures as one line, `[figures] <suite>: key=value, ...`,
 * so a run's output can be grepped for them (the fault and hostile-input
 * suites report what they injected and counted).
 */
export function printFigures(
  suite: string,
  figures: Record<string, string | number>,
): void {
  const line = Object.entries(figures)
    .map(([key, value]) => `${key}=${value}`)
    .join(', ');
  process.stdout.write(`[figures] ${suite}: ${line}\n`);
}
