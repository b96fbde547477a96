import { gh } from '../../helpers/two-tenants.js';

export interface ApplicationBody {
  id: string;
  client_id: string;
  tenant_id: string;
  name: string;
  type: string;
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  grant_types: string[];
  first_party: boolean;
  organization_required: boolean;
  created_at: string;
  updated_at: string;
  client_secret?: string;
}

export const CALLBACK = 'https://app.example.com/callback';

/** Creates an application through the API and returns it (fails the test on a non-201). */
export const createApp = (token: string, body: Record<string, unknown>) => gh.created<ApplicationBody>('/api/v1/applications', token, body);

/** The application's row, read straight from the database. */
export const storedRow = (id: string) => gh.ctx.db.selectFrom('applications').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
