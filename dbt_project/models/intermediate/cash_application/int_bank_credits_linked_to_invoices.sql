-- One row per (bank credit line booked up to the run date, invoice it may pay, kind of evidence,
-- quoted number): how the remittance points at the invoice (a valid structured creditor reference,
-- the exact invoice number, the number with one typo, the number cut short) or, with evidence
-- 'payer' and no number, that the invoice is an open invoice of one of the line's payer candidates.
-- Candidates are blocked by currency and by number key, deletion neighbour, number prefix + customer
-- or amount, or payer customer: never all lines against all invoices.
-- A table of its own (not a CTE of int_payment_candidates_corroborated) so that Postgres plans the next step on
-- real statistics: estimating these unions from the CTEs above (10^21 rows guessed at profile L for
-- 10M real), it met the ERP allocations in a nested loop, every candidate against every allocation.
with bank_credits as (
    select * from {{ ref('int_bank_credits_booked') }}
),

tokens as (
    select * from {{ ref('int_bank_credits_tokenised') }}
),

payer_candidates as (
    select * from {{ ref('int_bank_credits_linked_to_payers') }}
),

invoices as (
    select * from {{ ref('int_invoices_awaiting_cash') }}
),

line_tokens as materialized (
    select tokens.*, bank_credits.currency, bank_credits.amount, bank_credits.booking_date
    from tokens
    inner join bank_credits using (bank_txn_id)
),

by_reference as (
    -- a valid structured reference equal to an open invoice's (int_bank_credits_matched_by_reference)
    select
        matched.bank_txn_id,
        matched.invoice_id,
        matched.creditor_reference as token_key,
        'structured_reference' as evidence,
        0 as edit_distance
    from {{ ref('int_bank_credits_matched_by_reference') }} as matched
    inner join invoices on invoices.invoice_id = matched.invoice_id
),

-- With the invoice's customer and whether the amounts agree, for lines_settled_by_text below: met
-- there again through line_tokens and invoices, Postgres (misestimating the CTEs) first joined every
-- payer candidate with every invoice of its customer (84M rows at profile L) and sorted them.
exact_numbers as (
    select
        line_tokens.bank_txn_id,
        invoices.invoice_id,
        line_tokens.token_key,
        invoices.customer_id,
        line_tokens.amount = invoices.amount_due as is_amount_equal
    from line_tokens
    inner join invoices
        on line_tokens.token_key = invoices.number_key
        and line_tokens.currency = invoices.currency
),

by_exact_number as (
    select bank_txn_id, invoice_id, token_key, 'invoice_number' as evidence, 0 as edit_distance
    from exact_numbers
),

-- A number with one typo is one Damerau-Levenshtein edit (substitution, transposition, insertion,
-- deletion) from its invoice's; a number cut short (1-4 trailing digits lost) is a prefix of it.
-- Both are dense (many invoices sit one digit apart), and an uncorroborated fuzzy or cut-short
-- candidate can never win, so they are only looked for among (a) the open invoices of the line's
-- payer candidates and (b) the invoices of exactly the line's amount, the latter met on a shared
-- single-character deletion (symmetric deletion) or prefix.
-- Lines the text already settles beyond any alternative (a valid reference, or the exact number of
-- an invoice of exactly the line's amount whose customer the payer is known for: no fuzzy, cut-short
-- or payer-only candidate can outscore that) need no payer-only candidates.
lines_settled_by_text as (
    select bank_txn_id from by_reference
    union
    select exact_numbers.bank_txn_id
    from exact_numbers
    inner join payer_candidates
        on exact_numbers.bank_txn_id = payer_candidates.bank_txn_id
        and exact_numbers.customer_id = payer_candidates.customer_id
    where exact_numbers.is_amount_equal
),

-- The line's booking date first, in a step of its own (as evidence_on_lines below): in one
-- three-way join Postgres, misestimating these CTEs, joined every invoice with every bank credit on
-- the date conditions alone (4 x 10^5 squared at profile M) before meeting the payer's customer.
-- The lines the text settles are flagged in one sort over both sets, not anti-joined: Postgres
-- cannot estimate lines_settled_by_text (a union over CTEs: 3 x 10^9 rows guessed at profile M for
-- 181k real, 4 x 10^14 at L) and sized the anti join's hash for it, 32,768 batches on disk (50 of
-- the model's 113 s at M; at L 24 GB of temporary files and no end after 48 minutes). A window
-- over a union all sorts what is really there.
payer_candidates_flagged as (
    select
        bank_txn_id,
        customer_id,
        max(settled_by_text) over (partition by bank_txn_id) as is_settled_by_text
    from (
        select bank_txn_id, customer_id, 0 as settled_by_text from payer_candidates
        union all
        select bank_txn_id, cast(null as varchar) as customer_id, 1 as settled_by_text from lines_settled_by_text
    ) as lines
),

payer_lines as materialized (
    select payer_candidates_flagged.bank_txn_id, payer_candidates_flagged.customer_id, bank_credits.booking_date
    from payer_candidates_flagged
    inner join bank_credits using (bank_txn_id)
    where payer_candidates_flagged.customer_id is not null and payer_candidates_flagged.is_settled_by_text = 0
),

payer_invoices as materialized (
    select payer_lines.bank_txn_id, invoices.invoice_id, invoices.number_key
    from payer_lines
    inner join invoices
        on payer_lines.customer_id = invoices.customer_id
        and {{ invoice_payable_on('invoices', 'payer_lines.booking_date') }}
),

numbers_of_payer_invoices as (
    select line_tokens.bank_txn_id, line_tokens.token_key, payer_invoices.invoice_id, payer_invoices.number_key
    from line_tokens
    inner join payer_invoices using (bank_txn_id)
    where line_tokens.token_key <> payer_invoices.number_key
),

amounts_due as (
    select distinct currency, amount_due from invoices
),

token_variants as (
    select bank_txn_id, currency, amount, token_key, token_key as variant, 'fuzzy' as variant_kind
    from line_tokens
    where (currency, amount) in (select * from amounts_due)
    union all
    select bank_txn_id, currency, amount, token_key, {{ string_head('token_key', 'i - 1') }} || {{ string_tail('token_key', 'i + 1') }} as variant, 'fuzzy' as variant_kind
    from line_tokens, {{ integer_range(1, 21) }} as positions(i)
    where i <= token_length and (currency, amount) in (select * from amounts_due)
    union all
    select bank_txn_id, currency, amount, token_key, token_key as variant, 'truncated' as variant_kind
    from line_tokens
    where token_length >= 6 and (currency, amount) in (select * from amounts_due)
),

-- Only the columns the variants need: Postgres sorts these rows (3M at profile M), and the width
-- of the whole invoice row doubled the sort.
invoices_of_line_amounts as (
    select invoice_id, currency, amount_due, number_key
    from invoices
    where (currency, amount_due) in (select distinct currency, amount from line_tokens)
),

invoice_variants as (
    select invoice_id, currency, amount_due, number_key, number_key as variant, 'fuzzy' as variant_kind
    from invoices_of_line_amounts
    union all
    select
        invoice_id, currency, amount_due, number_key,
        {{ string_head('number_key', 'i - 1') }} || {{ string_tail('number_key', 'i + 1') }} as variant,
        'fuzzy' as variant_kind
    from invoices_of_line_amounts, {{ integer_range(1, 21) }} as positions(i)
    where i <= length(number_key)
    union all
    select
        invoice_id, currency, amount_due, number_key,
        {{ string_head('number_key', 'length(number_key) - cut') }} as variant,
        'truncated' as variant_kind
    from invoices_of_line_amounts, {{ integer_range(1, 5) }} as cuts(cut)
    where length(number_key) - cut >= 6
),

-- union all above: the same variant twice (deleting either of two equal adjacent digits) only
-- repeats a pair, which the distinct here removes once instead of two sorts of every variant.
numbers_of_amount_invoices as (
    select distinct token_variants.bank_txn_id, token_variants.token_key, invoice_variants.invoice_id, invoice_variants.number_key
    from token_variants
    inner join invoice_variants
        on token_variants.variant = invoice_variants.variant
        and token_variants.variant_kind = invoice_variants.variant_kind
        and token_variants.currency = invoice_variants.currency
        and token_variants.amount = invoice_variants.amount_due
    where token_variants.token_key <> invoice_variants.number_key
),

near_numbers as materialized (
    select * from numbers_of_payer_invoices
    union
    select * from numbers_of_amount_invoices
),

by_fuzzy_number as (
    select
        bank_txn_id,
        invoice_id,
        token_key,
        'invoice_number_fuzzy' as evidence,
        1 as edit_distance
    from near_numbers
    where {{ is_one_edit_apart('token_key', 'number_key') }}
),

by_truncated_number as (
    select
        bank_txn_id,
        invoice_id,
        token_key,
        'invoice_number_truncated' as evidence,
        length(number_key) - length(token_key) as edit_distance
    from near_numbers
    where length(token_key) >= 6
        and length(number_key) - length(token_key) between 1 and 4
        and starts_with(number_key, token_key)
),

by_payer as (
    select
        bank_txn_id,
        invoice_id,
        cast(null as varchar) as token_key,
        'payer' as evidence,
        cast(null as integer) as edit_distance
    from payer_invoices
),

evidence as (
    select * from by_reference
    union all
    select * from by_exact_number
    union all
    select * from by_fuzzy_number
    union all
    select * from by_truncated_number
    union all
    select * from by_payer
)

select * from evidence
