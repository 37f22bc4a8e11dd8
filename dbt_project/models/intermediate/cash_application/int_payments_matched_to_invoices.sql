-- One row per (bank credit line, invoice) allocation found by cash application, as of the run date.
-- The cascade, most trusted first (each allocation keeps its method and confidence):
--   1. text: per number quoted (or structured reference), the unique best-scoring candidate invoice,
--      if its score clears the bar (int_payment_candidates_corroborated: reference / exact / one typo / cut short,
--      corroborated by amount and payer); a tie at the top is ambiguous and goes to review;
--   2. completion: when the invoices named leave a remainder, the payer's other open invoices of the
--      same customer that make up exactly that remainder, oldest due first;
--   3. amount: lines with nothing usable in the text, paid by a known payer (account seen before,
--      or similar name): the one open invoice of exactly the amount, or else the oldest-due run of
--      one customer's open invoices adding up to it; several solutions are ambiguous (review).
-- The cash is spread oldest due first, never above what was open on each invoice at booking; the
-- rest stays unallocated (over-payments). Lines the ERP has already reconciled are flagged, so
-- balances only subtract what the ERP has not recorded yet. Lines reversed or returned by the run
-- date, and the reversals themselves, are netted out before the cascade (int_bank_lines_reversed).
-- Exclusions are `not in` / `in` over a pre-aggregated set, not `not exists`: Postgres cannot
-- estimate the rows of the CTEs filtered on window results (it guesses 1 for by_text's 10-15k at
-- profile S), so it ran each correlated `not exists` as a nested-loop anti join, quadratic in the
-- bank lines; a `not in` over a set is a hashed subplan whatever the estimate (DuckDB: a hash mark
-- join either way). `candidates` is `not materialized` so Postgres plans with the table's statistics.
with candidates as not materialized (
    select * from {{ ref('int_payment_candidates_corroborated') }}
    -- a payment reversed or returned by the run date pays nothing (its invoices stay open), and a
    -- reversal line is not a payment (int_bank_lines_reversed)
    where bank_txn_id not in (select bank_txn_id from {{ ref('int_bank_lines_reversed') }})
),

recorded as (
    select distinct bank_txn_id
    from {{ ref('stg_erp__payment_allocations') }}
    where bank_txn_id is not null and recorded_date <= {{ as_of_date() }}
),

-- 1. text: rank the candidates of each quoted number (or reference)
token_ranked as (
    select
        *,
        rank() over (partition by bank_txn_id, token_key order by match_score desc) as score_rank,
        count(*) over (partition by bank_txn_id, token_key, match_score) as n_at_score
    from candidates
    where evidence <> 'payer'
),

token_accepted as (
    select *
    from token_ranked
    where score_rank = 1 and n_at_score = 1 and (evidence = 'structured_reference' or match_score >= 4)
),

lines_ambiguous_by_text as (
    select distinct bank_txn_id
    from token_ranked
    where score_rank = 1 and n_at_score > 1 and match_score >= 4
),

by_text as (
    select
        bank_txn_id,
        invoice_id,
        {{ any_value('customer_id') }} as customer_id,
        {{ any_value('amount') }} as amount,
        {{ any_value('due_date') }} as due_date,
        {{ any_value('amount_open_at_booking') }} as amount_open_at_booking,
        {{ first_by('evidence', 'confidence desc, ' ~ cascade_step('evidence')) }} as match_method,
        max(confidence) as confidence
    from token_accepted
    group by bank_txn_id, invoice_id
),

-- an invoice a text-matched line pays in full is not open for any other line
invoices_claimed as (
    select invoice_id, min(bank_txn_id) as first_claimed_by, max(bank_txn_id) as last_claimed_by
    from by_text
    where amount >= amount_open_at_booking
    group by invoice_id
),

invoices_claimed_by_one_line as (
    select invoice_id, first_claimed_by as claimed_by
    from invoices_claimed
    where first_claimed_by = last_claimed_by
),

payer_pool as (
    select candidates.*
    from candidates
    where candidates.evidence = 'payer'
        and (
            candidates.invoice_id not in (select invoice_id from invoices_claimed)
            or (candidates.invoice_id, candidates.bank_txn_id) in (
                select invoice_id, claimed_by from invoices_claimed_by_one_line
            )
        )
),

-- 2. completion of a remainder with the same customer's other open invoices
text_totals as (
    select
        bank_txn_id,
        {{ any_value('amount') }} as amount,
        sum(amount_open_at_booking) as amount_named,
        count(distinct customer_id) as n_customers,
        {{ any_value('customer_id') }} as customer_id
    from by_text
    group by bank_txn_id
),

completion_running as (
    select
        payer_pool.bank_txn_id,
        payer_pool.invoice_id,
        payer_pool.customer_id,
        payer_pool.amount_open_at_booking,
        text_totals.amount - text_totals.amount_named as remainder,
        sum(payer_pool.amount_open_at_booking) over (
            partition by payer_pool.bank_txn_id order by payer_pool.due_date, payer_pool.invoice_id
            rows between unbounded preceding and current row
        ) as running_total
    from payer_pool
    inner join text_totals
        on payer_pool.bank_txn_id = text_totals.bank_txn_id
        and payer_pool.customer_id = text_totals.customer_id
    where text_totals.n_customers = 1
        and text_totals.amount > text_totals.amount_named
        and (payer_pool.bank_txn_id, payer_pool.invoice_id) not in (select bank_txn_id, invoice_id from by_text)
),

-- where the running total first makes up the remainder (null: never), as a window rather than a
-- join back to a per-line aggregate, which Postgres (estimating 1 row each side) nests
completion_reached as (
    select
        *,
        min(case when running_total = remainder then running_total end) over (partition by bank_txn_id)
            as completed_at
    from completion_running
),

by_completion as (
    select bank_txn_id, invoice_id, 'amount_completion' as match_method, 0.85 as confidence
    from completion_reached
    where running_total <= completed_at
),

-- 3. amount + payer identity for lines the text did not settle
amount_pool as (
    select *
    from payer_pool
    where bank_txn_id not in (select bank_txn_id from by_text)
        and bank_txn_id not in (select bank_txn_id from lines_ambiguous_by_text)
),

amount_equal as (
    select
        bank_txn_id,
        count(distinct invoice_id) as n_invoices,
        {{ any_value('invoice_id') }} as invoice_id,
        max(confidence) as confidence
    from amount_pool
    where is_amount_equal
    group by bank_txn_id
),

by_amount as (
    select bank_txn_id, invoice_id, 'payer_amount' as match_method, confidence
    from amount_equal
    where n_invoices = 1
),

combination_running as (
    select
        *,
        sum(amount_open_at_booking) over (
            partition by bank_txn_id, customer_id order by due_date, invoice_id
            rows between unbounded preceding and current row
        ) as running_total,
        row_number() over (partition by bank_txn_id, customer_id order by due_date, invoice_id) as n_invoices
    from amount_pool
    where bank_txn_id not in (select bank_txn_id from amount_equal)
),

combination_solutions as (
    select bank_txn_id, {{ any_value('customer_id') }} as customer_id, count(*) as n_solutions
    from combination_running
    where running_total = amount and n_invoices >= 2
    group by bank_txn_id
),

by_amount_combination as (
    select
        combination_running.bank_txn_id,
        combination_running.invoice_id,
        'payer_amount_combination' as match_method,
        0.8 as confidence
    from combination_running
    inner join combination_solutions using (bank_txn_id, customer_id)
    where combination_solutions.n_solutions = 1 and combination_running.running_total <= combination_running.amount
),

selected as (
    select bank_txn_id, invoice_id, match_method, confidence from by_text
    union all
    select * from by_completion
    union all
    select * from by_amount
    union all
    select * from by_amount_combination
),

ordered as (
    select
        selected.*,
        candidates.customer_id,
        candidates.booking_date,
        candidates.value_date,
        candidates.amount,
        candidates.amount_open_at_booking,
        coalesce(
            sum(candidates.amount_open_at_booking) over (
                partition by selected.bank_txn_id
                order by candidates.due_date, selected.invoice_id
                rows between unbounded preceding and 1 preceding
            ),
            0
        ) as open_before
    from selected
    inner join (select distinct on (bank_txn_id, invoice_id) * from candidates) as candidates
        using (bank_txn_id, invoice_id)
),

final as (
    select
        ordered.bank_txn_id,
        ordered.invoice_id,
        ordered.customer_id,
        ordered.booking_date,
        ordered.value_date,
        ordered.match_method,
        cast(ordered.confidence as decimal(4, 3)) as confidence,
        cast(least(ordered.amount_open_at_booking, greatest(ordered.amount - ordered.open_before, 0)) as decimal(18, 2))
            as amount_allocated,
        recorded.bank_txn_id is not null as is_recorded_in_erp
    from ordered
    -- a join, not `in (select ...)`: Postgres estimates `recorded` right (a table's statistics),
    -- finds its hash table too big for work_mem and would rescan it for every row instead
    left join recorded using (bank_txn_id)
)

select * from final where amount_allocated > 0
