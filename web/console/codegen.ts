import type { CodegenConfig } from '@graphql-codegen/cli';

// Types come from the server's schema: a schema change that breaks a query
// the console sends fails `make web-console` (codegen validates every
// document, then tsc checks the code against the generated types).
const config: CodegenConfig = {
  schema: '../../graph/schema/*.graphqls',
  documents: ['src/**/*.{ts,tsx}', '!src/gql/**'],
  ignoreNoDocuments: false,
  errorsOnly: false,
  generates: {
    'src/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        scalars: { Time: 'string', JSON: 'unknown' },
        enumsAsTypes: true,
        useTypeImports: true,
        strictScalars: true,
      },
    },
  },
};
export default config;
