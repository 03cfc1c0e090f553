import { useState } from 'react';
import { InfoCard } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import IconButton from '@material-ui/core/IconButton';
import MenuItem from '@material-ui/core/MenuItem';
import TextField from '@material-ui/core/TextField';
import Typography from '@material-ui/core/Typography';
import DeleteIcon from '@material-ui/icons/Delete';
import Alert from '@material-ui/lab/Alert';
import type {
  Environment,
  RouteTestResult,
  RoutingKey,
} from '@internal/plugin-kube-delivery-common';
import { kubeDeliveryApiRef } from '../../api';
import { reasonOf } from '../common/format';

type Pair = { name: string; value: string };
type PairKind = 'Header' | 'Cookie';

/** Editable name/value rows (headers or cookies), each with its own labels. */
function PairRows(props: {
  kind: PairKind;
  rows: Pair[];
  onChange: (rows: Pair[]) => void;
}) {
  const { kind, rows, onChange } = props;
  const update = (index: number, change: Partial<Pair>) =>
    onChange(rows.map((row, i) => (i === index ? { ...row, ...change } : row)));
  return (
    <Box mb={1}>
      {rows.map((row, i) => (
        <Box key={i} display="flex" alignItems="center" style={{ gap: 8 }}>
          <TextField
            id={`kd-tester-${kind}-${i}-name`}
            label={`${kind} ${i + 1} name`}
            margin="dense"
            value={row.name}
            onChange={e => update(i, { name: e.target.value })}
          />
          <TextField
            id={`kd-tester-${kind}-${i}-value`}
            label={`${kind} ${i + 1} value`}
            margin="dense"
            value={row.value}
            onChange={e => update(i, { value: e.target.value })}
            style={{ flexGrow: 1 }}
          />
          <IconButton
            aria-label={`Remove ${kind.toLowerCase()} ${i + 1}`}
            onClick={() => onChange(rows.filter((_, j) => j !== i))}
          >
            <DeleteIcon />
          </IconButton>
        </Box>
      ))}
      <Button
        size="small"
        onClick={() => onChange([...rows, { name: '', value: '' }])}
      >
        Add {kind.toLowerCase()}
      </Button>
    </Box>
  );
}

/** The request headers the tester sends: the headers, plus the cookies as one Cookie header. */
export function testHeaders(
  headers: Pair[],
  cookies: Pair[],
): Record<string, string> {
  const result: Record<string, string> = {};
  for (const h of headers) {
    if (h.name.trim()) result[h.name.trim().toLowerCase()] = h.value;
  }
  const cookie = cookies
    .filter(c => c.name.trim())
    .map(c => `${c.name.trim()}=${c.value}`)
    .join('; ');
  if (cookie) result.cookie = cookie;
  return result;
}

function Verdict({ result }: { result: RouteTestResult }) {
  if (!result.virtualService) {
    return (
      <Alert severity="info">
        Goes to {result.destination?.host ?? 'the mainline Service'}: the
        service has no {result.kind ?? 'VirtualService'} yet, so Kubernetes
        routes every request to the mainline. Add a rule to route to a branch.
      </Alert>
    );
  }
  if (!result.destination) {
    return (
      <Alert severity="warning">
        No route entry sends this request anywhere; check the service's routing
        rules.
      </Alert>
    );
  }
  const { host, subset, port } = result.destination;
  return (
    <Alert severity={result.rule ? 'success' : 'info'}>
      <Typography variant="body2" aria-label="Route test destination">
        Goes to <strong>{host}</strong>
        {subset && ` (subset ${subset})`}
        {port && ` port ${port.number}`}
      </Typography>
      <Typography variant="body2">
        {result.rule
          ? `Matched the ${result.rule.kind} rule ${result.rule.key}=${result.rule.value} of ${result.rule.owner} for branch ${result.rule.branch}.`
          : `No rule matched: the mainline route${
              result.routeName ? ` (${result.routeName})` : ''
            } takes it.`}
      </Typography>
    </Alert>
  );
}

/** "Where does a request with these headers go?", answered on the live routing. */
export function RouteTester(props: {
  entityRef: string;
  environments: Environment[];
  routing: RoutingKey;
}) {
  const { entityRef, environments, routing } = props;
  const api = useApi(kubeDeliveryApiRef);
  const [environment, setEnvironment] = useState(environments[0]?.name ?? '');
  const [headers, setHeaders] = useState<Pair[]>(
    routing.kind === 'cookie'
      ? []
      : [
          {
            name: routing.kind === 'header' ? routing.name : 'baggage',
            value: '',
          },
        ],
  );
  const [cookies, setCookies] = useState<Pair[]>(
    routing.kind === 'cookie' ? [{ name: routing.name, value: '' }] : [],
  );
  const [result, setResult] = useState<RouteTestResult>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const run = async () => {
    setBusy(true);
    setError(undefined);
    setResult(undefined);
    try {
      setResult(
        await api.testRoute(entityRef, {
          environment,
          headers: testHeaders(headers, cookies),
        }),
      );
    } catch (e) {
      setError(reasonOf(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <InfoCard title="Route tester">
      <Typography variant="body2" color="textSecondary" paragraph>
        Evaluated on the routing read back from the cluster, not on a guess.
      </Typography>
      <TextField
        id="kd-tester-environment"
        select
        label="Environment"
        fullWidth
        margin="dense"
        value={environment}
        onChange={e => setEnvironment(e.target.value)}
      >
        {environments.map(e => (
          <MenuItem key={e.name} value={e.name}>
            {e.name}
          </MenuItem>
        ))}
      </TextField>
      <Typography variant="subtitle2">Headers</Typography>
      <PairRows kind="Header" rows={headers} onChange={setHeaders} />
      <Typography variant="subtitle2">Cookies</Typography>
      <PairRows kind="Cookie" rows={cookies} onChange={setCookies} />
      <Button
        variant="contained"
        color="primary"
        disabled={busy || !environment}
        onClick={run}
      >
        Test route
      </Button>
      <Box mt={2} aria-live="polite">
        {result && <Verdict result={result} />}
        {error && <Alert severity="error">{error}</Alert>}
      </Box>
    </InfoCard>
  );
}
