import { useEffect, useState } from 'react';
import Box from '@material-ui/core/Box';
import MenuItem from '@material-ui/core/MenuItem';
import TextField from '@material-ui/core/TextField';
import Typography from '@material-ui/core/Typography';
import Alert from '@material-ui/lab/Alert';
import {
  validateRouteValue,
  type RoutingKey,
  type RoutingKind,
} from '@internal/plugin-kube-delivery-common';
import type { NewRouteRule } from '../../api';
import { FormDialog } from '../common/FormDialog';
import { DEFAULT_KEYS, headerToSend } from './routingKey';

const KEY_LABELS: Record<RoutingKind, string> = {
  cookie: 'Cookie name',
  header: 'Header name',
  baggage: 'Baggage key',
};

/** How long a new rule lives; the backend's default is 8 hours. */
const TTL_CHOICES = [
  { minutes: 60, label: '1 hour' },
  { minutes: 480, label: '8 hours' },
  { minutes: 1440, label: '1 day' },
  { minutes: 10080, label: '7 days' },
];

/**
 * A value nobody else has (a UUID v4), so the rule routes only the person who
 * sends it. getRandomValues, unlike randomUUID, works on plain-HTTP portals too.
 */
export function generatedValue(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, b => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(
    12,
    16,
  )}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * A routing rule for yourself: kind, key and a generated value, prefilled
 * from the service's routing annotation, and the exact header to send.
 */
export function AddRuleDialog(props: {
  open: boolean;
  environment: string;
  branch: string;
  routing: RoutingKey;
  error?: string;
  busy: boolean;
  onClose: () => void;
  onAdd: (rule: NewRouteRule) => void;
}) {
  const { open, environment, branch, routing, error, busy, onClose, onAdd } =
    props;
  const [kind, setKind] = useState<RoutingKind>(routing.kind);
  const [key, setKey] = useState(routing.name);
  const [value, setValue] = useState('');
  const [ttlMinutes, setTtlMinutes] = useState(480);

  useEffect(() => {
    if (open) {
      setKind(routing.kind);
      setKey(routing.name);
      setValue(generatedValue());
      setTtlMinutes(480);
    }
  }, [open, routing]);

  const invalid = validateRouteValue(kind, key, value);
  const send = headerToSend(kind, key, value);
  const id = `kd-rule-${environment}-${branch}`;

  return (
    <FormDialog
      open={open}
      titleId={`${id}-title`}
      title={`Route yourself to ${branch} in ${environment}`}
      error={error}
      submitLabel="Add rule"
      submitAriaLabel={`Create the rule for ${branch} in ${environment}`}
      submitDisabled={Boolean(invalid) || busy}
      onSubmit={() =>
        onAdd({ environment, branch, kind, key, value, ttlMinutes })
      }
      onClose={onClose}
    >
      <TextField
        id={`${id}-kind`}
        select
        label="Kind"
        fullWidth
        margin="dense"
        value={kind}
        onChange={e => {
          const next = e.target.value as RoutingKind;
          setKind(next);
          setKey(next === routing.kind ? routing.name : DEFAULT_KEYS[next]);
        }}
      >
        <MenuItem value="cookie">Cookie (browser traffic)</MenuItem>
        <MenuItem value="header">Header (e.g. gRPC metadata)</MenuItem>
        <MenuItem value="baggage">W3C baggage</MenuItem>
      </TextField>
      <TextField
        id={`${id}-key`}
        label={KEY_LABELS[kind]}
        fullWidth
        margin="dense"
        value={key}
        onChange={e => setKey(e.target.value)}
      />
      <TextField
        id={`${id}-value`}
        label="Value"
        fullWidth
        margin="dense"
        value={value}
        onChange={e => setValue(e.target.value)}
        helperText="Generated so that only requests you send match; keep it or use your own session or user id."
      />
      <TextField
        id={`${id}-ttl`}
        select
        label="Expires after"
        fullWidth
        margin="dense"
        value={ttlMinutes}
        onChange={e => setTtlMinutes(Number(e.target.value))}
      >
        {TTL_CHOICES.map(c => (
          <MenuItem key={c.minutes} value={c.minutes}>
            {c.label}
          </MenuItem>
        ))}
      </TextField>
      {invalid ? (
        <Box mt={1}>
          <Alert severity="warning">{invalid}</Alert>
        </Box>
      ) : (
        <Box mt={2}>
          <Typography variant="body2">Send this with your requests:</Typography>
          <Typography
            component="pre"
            variant="body2"
            aria-label="Header to send"
            style={{ fontFamily: 'monospace', margin: 0 }}
          >
            {send.name}: {send.value}
          </Typography>
          {kind === 'cookie' && (
            <Typography variant="caption" color="textSecondary">
              In the browser, on the service's site:{' '}
              <code>{`document.cookie = "${key}=${value}; path=/"`}</code>
            </Typography>
          )}
        </Box>
      )}
    </FormDialog>
  );
}
