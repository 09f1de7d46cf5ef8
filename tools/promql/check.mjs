// Parses PromQL with Prometheus's own grammar (@prometheus-io/lezer-promql, the parser of
// Prometheus's web UI) and prints, for each expression read from stdin (a JSON array of
// strings), the offsets where the parser had to recover: [] for a valid expression.
// tests/test_promql.py feeds it every rule and dashboard expression of the committed plans.
import { parser } from '@prometheus-io/lezer-promql';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const expressions = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const results = expressions.map((expr) => {
  const errors = [];
  parser.parse(expr).iterate({
    enter(node) {
      if (node.type.isError) errors.push(node.from);
    },
  });
  return errors;
});
process.stdout.write(JSON.stringify(results));
