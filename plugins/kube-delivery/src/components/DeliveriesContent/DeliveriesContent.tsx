import {
  EmptyState,
  Link,
  Progress,
  ResponseErrorPanel,
} from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { parseEntityRef } from '@backstage/catalog-model';
import type {
  DeliveryCell,
  DeliveryMatrix,
  DeliveryRow,
} from '@internal/plugin-kube-delivery-common';
import Box from '@material-ui/core/Box';
import Chip from '@material-ui/core/Chip';
import Paper from '@material-ui/core/Paper';
import Table from '@material-ui/core/Table';
import TableBody from '@material-ui/core/TableBody';
import TableCell from '@material-ui/core/TableCell';
import TableContainer from '@material-ui/core/TableContainer';
import TableHead from '@material-ui/core/TableHead';
import TableRow from '@material-ui/core/TableRow';
import Tooltip from '@material-ui/core/Tooltip';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import Alert from '@material-ui/lab/Alert';
import { useMemo, useState } from 'react';
import { kubeDeliveryApiRef, type DeliveriesFilter } from '../../api';
import { usePolledAsync } from '../../hooks/usePolledAsync';
import { LabelledSelect } from '../common/LabelledSelect';
import { relativeTime } from '../common/format';

/** How often the matrix is read again. */
export const DELIVERIES_POLL_INTERVAL_MS = 10_000;

const STATE_TEXT: Record<DeliveryCell['state'], string> = {
  'not-deployed': 'not deployed',
  'rolling-out': 'rolling out',
  'waiting-approval': 'waiting for approval',
  healthy: 'healthy',
  degraded: 'degraded',
  failed: 'failed',
  unknown: 'state unknown',
};

const useStyles = makeStyles(theme => ({
  cell: { minWidth: 170, verticalAlign: 'top' },
  version: { fontWeight: 600 },
  differs: {
    borderLeft: `3px solid ${theme.palette.info.main}`,
  },
  healthy: { backgroundColor: theme.palette.success.light },
  degraded: { backgroundColor: theme.palette.warning.light },
  failed: {
    backgroundColor: theme.palette.error.main,
    color: theme.palette.error.contrastText,
  },
  'rolling-out': { backgroundColor: theme.palette.info.light },
  'waiting-approval': { backgroundColor: theme.palette.secondary.light },
  'not-deployed': {},
  unknown: {},
}));

/** Where a service's Environments tab is: the catalog's entity page and the tab's path. */
function environmentsTabOf(entityRef: string): string {
  const { kind, namespace, name } = parseEntityRef(entityRef);
  return `/catalog/${encodeURIComponent(namespace)}/${encodeURIComponent(
    kind.toLocaleLowerCase('en-US'),
  )}/${encodeURIComponent(name)}/kube-delivery/environments`;
}

/** `group:default/team-a` → `team-a`, as the catalog shows references in its own namespace. */
function shortRef(ref: string | undefined): string {
  if (!ref) return '';
  try {
    const { namespace, name } = parseEntityRef(ref);
    return namespace === 'default' ? name : `${namespace}/${name}`;
  } catch {
    return ref;
  }
}

function Cell(props: {
  row: DeliveryRow;
  cell: DeliveryCell;
  previous?: string;
}) {
  const { row, cell, previous } = props;
  const classes = useStyles();
  const label = `${shortRef(row.entityRef)} in ${cell.environment}: ${
    cell.version ?? 'nothing'
  }, ${STATE_TEXT[cell.state]}`;
  return (
    <TableCell
      className={`${classes.cell} ${
        cell.differsFromPrevious ? classes.differs : ''
      }`}
      aria-label={label}
      data-testid={`cell-${shortRef(row.entityRef)}-${cell.environment}`}
    >
      <Link to={environmentsTabOf(row.entityRef)} underline="none">
        <Typography
          variant="body2"
          className={classes.version}
          component="span"
        >
          {cell.version ?? '—'}
        </Typography>
        {cell.pendingVersion && (
          <Typography variant="body2" component="span">
            {' '}
            → {cell.pendingVersion}
          </Typography>
        )}
      </Link>
      <Box mt={0.5}>
        <Tooltip title={cell.message ?? ''}>
          <Chip
            size="small"
            label={STATE_TEXT[cell.state]}
            className={classes[cell.state]}
          />
        </Tooltip>
      </Box>
      {cell.deployedBy && cell.deployedAt && (
        <Typography variant="caption" color="textSecondary" component="div">
          {shortRef(cell.deployedBy)}, {relativeTime(cell.deployedAt)}
        </Typography>
      )}
      {cell.differsFromPrevious && previous && (
        <Typography variant="caption" color="primary" component="div">
          differs from {previous}
        </Typography>
      )}
    </TableCell>
  );
}

const ALL = '';

/** What the selects narrow the rows by; one the page fixes (a System's or Group's tab) is not offered. */
type FilterField = 'system' | 'owner' | 'lifecycle';
const FILTERS: Array<{ field: FilterField; label: string }> = [
  { field: 'system', label: 'System' },
  { field: 'owner', label: 'Owner' },
  { field: 'lifecycle', label: 'Lifecycle' },
];

/**
 * Every service × environment: version, state, who deployed it and when.
 * A cell opens the service's Environments tab; a cell whose version differs
 * from the previous environment's is marked, so what the next promotion
 * changes is visible. `filter` fixes the rows (a System's or Group's tab);
 * the selects narrow them further.
 */
export function DeliveriesTable(props: { filter?: DeliveriesFilter }) {
  const api = useApi(kubeDeliveryApiRef);
  const filter = props.filter ?? {};
  const { value, loading, error } = usePolledAsync<DeliveryMatrix>(
    () => api.getDeliveries(filter),
    DELIVERIES_POLL_INTERVAL_MS,
    [api, filter.system, filter.owner, filter.lifecycle],
  );
  const [chosen, setChosen] = useState<Record<FilterField, string>>({
    system: ALL,
    owner: ALL,
    lifecycle: ALL,
  });
  const options = useMemo(
    () =>
      Object.fromEntries(
        FILTERS.map(({ field }) => [
          field,
          [...new Set((value?.items ?? []).map(row => row[field]))]
            .filter((v): v is string => Boolean(v))
            .sort()
            .map(v => ({ label: shortRef(v), value: v })),
        ]),
      ) as Record<FilterField, Array<{ label: string; value: string }>>,
    [value],
  );

  if (loading) return <Progress />;
  if (!value) {
    return error ? (
      <ResponseErrorPanel
        title="Deliveries could not be read; reload the page, or ask your platform team if it persists"
        error={error}
      />
    ) : null;
  }
  const rows = value.items.filter(row =>
    FILTERS.every(
      ({ field }) => chosen[field] === ALL || row[field] === chosen[field],
    ),
  );
  if (value.items.length === 0) {
    return (
      <EmptyState
        missing="data"
        title="No services delivered here yet"
        description="Services show here once their catalog entity has the kube-delivery.io/image annotation and you may read them. See the README's “Register your own service”."
      />
    );
  }
  return (
    <Box>
      {error && (
        <Box mb={1}>
          <Alert severity="warning">
            Showing the last answer: {error.message}
          </Alert>
        </Box>
      )}
      <Box display="flex" gridGap={16} mb={2} flexWrap="wrap">
        {FILTERS.filter(({ field }) => !props.filter?.[field]).map(
          ({ field, label }) => (
            <Box minWidth={180} key={field}>
              <LabelledSelect
                id={`deliveries-${field}`}
                label={label}
                value={chosen[field]}
                onChange={v => setChosen(c => ({ ...c, [field]: v }))}
                options={options[field]}
                allLabel="All"
              />
            </Box>
          ),
        )}
      </Box>
      {value.truncated && (
        <Alert severity="info">
          More services match than one page shows; narrow the filters.
        </Alert>
      )}
      <TableContainer component={Paper}>
        <Table size="small" aria-label="Deliveries">
          <TableHead>
            <TableRow>
              <TableCell>Service</TableCell>
              <TableCell>Owner</TableCell>
              {value.environments.map(environment => (
                <TableCell key={environment}>{environment}</TableCell>
              ))}
            </TableRow>
          </TableHead>
          <TableBody>
            {rows.map(row => (
              <TableRow key={row.entityRef}>
                <TableCell>
                  <Link to={environmentsTabOf(row.entityRef)}>
                    {row.title ?? shortRef(row.entityRef)}
                  </Link>
                  {row.system && (
                    <Typography
                      variant="caption"
                      color="textSecondary"
                      component="div"
                    >
                      {shortRef(row.system)}
                    </Typography>
                  )}
                </TableCell>
                <TableCell>{shortRef(row.owner)}</TableCell>
                {row.cells.map((cell, i) => (
                  <Cell
                    key={cell.environment}
                    row={row}
                    cell={cell}
                    previous={value.environments[i - 1]}
                  />
                ))}
              </TableRow>
            ))}
          </TableBody>
        </Table>
      </TableContainer>
      {rows.length === 0 && (
        <Box mt={2}>
          <Typography variant="body2">
            No service matches these filters.
          </Typography>
        </Box>
      )}
    </Box>
  );
}
