import FormControl from '@material-ui/core/FormControl';
import InputLabel from '@material-ui/core/InputLabel';
import MenuItem from '@material-ui/core/MenuItem';
import Select from '@material-ui/core/Select';

/** A select whose label is also its accessible name; `allLabel` adds an "all" choice as the empty value. */
export function LabelledSelect(props: {
  id: string;
  label: string;
  value: string;
  options: Array<{ value: string; label: string }>;
  onChange: (value: string) => void;
  allLabel?: string;
}) {
  return (
    <FormControl fullWidth margin="dense">
      <InputLabel
        id={`${props.id}-label`}
        shrink={props.allLabel ? true : undefined}
      >
        {props.label}
      </InputLabel>
      <Select
        labelId={`${props.id}-label`}
        value={props.value}
        displayEmpty={Boolean(props.allLabel)}
        onChange={e => props.onChange(e.target.value as string)}
        inputProps={{ 'aria-label': props.label }}
      >
        {props.allLabel && <MenuItem value="">{props.allLabel}</MenuItem>}
        {props.options.map(o => (
          <MenuItem key={o.value} value={o.value}>
            {o.label}
          </MenuItem>
        ))}
      </Select>
    </FormControl>
  );
}
