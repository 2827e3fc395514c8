// The associated data each sealed secret is bound to (src/lib/secret-box.ts): a value sealed for one row and column
// cannot be opened as another's. A leaf module: the web side seals, the worker opens, and both must agree.

export const rootPasswordAad = (containerId: string) => `containers:${containerId}:root_password`;
export const credentialAad = (containerId: string, key: string) => `containers:${containerId}:credential:${key}`;
/** The root password a wizard draft holds until Deploy. */
export const draftPasswordAad = (deployId: string) => `wizard:${deployId}:root_password`;
/** A just-created API token, kept in its creator's session until the page that shows it once (src/http/routes/account-routes.ts). */
export const newApiTokenAad = (sessionId: string) => `sessions:${sessionId}:new_api_token`;
export const tokenSecretAad = (nodeId: number) => `nodes:${nodeId}:token_secret`;
export const sshKeyAad = (nodeId: number) => `nodes:${nodeId}:ssh_private_key`;
