import { defineConfig } from 'vitest/config'

// One run over every workspace package. Packages resolve each other through
// the `peertap:source` export condition, so tests need no build step.
export default defineConfig({
  resolve: { conditions: ['peertap:source'] },
  ssr: { resolve: { conditions: ['peertap:source'] } },
  test: {
    include: [
      'packages/*/test/**/*.test.ts',
      'apps/*/test/**/*.test.ts',
      'tools/*/test/**/*.test.ts',
    ],
    pool: 'forks',
    testTimeout: 30_000,
  },
})
