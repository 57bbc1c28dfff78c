// GetCallerIdentity with the credentials of an AWS profile, found the way every JavaScript SDK program finds
// them (fromIni: ~/.aws/config, its credential_process), printed as JSON on stdout. The endpoint, region and
// profile come from the usual environment (AWS_ENDPOINT_URL, AWS_REGION, AWS_PROFILE).
//
//   node tests/sdk-node/caller.mjs
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { fromIni } from '@aws-sdk/credential-providers';

const client = new STSClient({ credentials: fromIni({ profile: process.env.AWS_PROFILE }) });
const identity = await client.send(new GetCallerIdentityCommand({}));
process.stdout.write(`${JSON.stringify({ Arn: identity.Arn, Account: identity.Account })}\n`);
