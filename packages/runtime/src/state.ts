/**
 * State files and the control file (`<stateDir>/control.json`: pid, status
 * port, token), shared with the relay through @peertap/daemon; written
 * atomically with the trunk's tested write (docs/design.md §10).
 */
export {
  CONTROL_FILE,
  type ControlInfo,
  readControl,
  readStateFile,
  writeStateFile,
} from '@peertap/daemon'
