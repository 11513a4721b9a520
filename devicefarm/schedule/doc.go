// Package schedule owns the farm's work queue: turning a suite's tests into duration-aware
// work items (longest first, batches sized by expected duration, a last mile of single
// tests), the flakiness maths behind preventive retries, and the PostgreSQL side of claiming,
// leasing and reporting work (farm_claim/farm_record/... in internal/pg/migrations/003_farm.sql).
// There is no scheduler process: agents call Queue methods and the database arbitrates with
// FOR UPDATE SKIP LOCKED and lease expiry.
package schedule
