-- One row per run date x segment x country x currency, plus roll-up rows ('all' markers) for
-- country x currency, currency, segment and the grand total: open AR and aging, DSO (standard,
-- countback, best possible), average days delinquent, CEI over the last 30 days, contact and
-- promise-kept rates, recovery by channel, auto-match rate and the decision log's treatment and
-- control arms with their 14-day paid rates (0 customers and null rates before any decision).
-- Native amounts are null on rows adding up several currencies; *_reporting amounts are in
-- var('reporting_currency') at the rates valid on the run date. Ratios (DSO, CEI, rates) use
-- native amounts where there is one currency and reporting amounts otherwise.
{%- set dso_days = 90 %}
{%- set window_days = var('kpi_window_days', 30) %}
{%- set recovery_days = var('recovery_window_days', 14) %}
{%- set grace_days = var('promise_grace_days', 3) %}

with invoices as (
    select * from {{ ref('fct_invoices') }}
    where status = 'posted'
),

customers as (
    select
        customer_id,
        coalesce(segment, 'unknown') as dim_segment,
        coalesce(country, 'unknown') as dim_country,
        currency as customer_currency
    from {{ ref('stg_erp__customers') }}
),

{{ fx_valid_rates(as_of_date()) }},

fx as (
    {{ fx_rates_to_reporting(as_of_date()) | indent(4) }}
),

invoice_base as (
    select
        invoices.*,
        coalesce(customers.dim_segment, 'unknown') as dim_segment,
        coalesce(customers.dim_country, 'unknown') as dim_country,
        invoices.currency as dim_currency,
        cast(fx.fx_rate_to_reporting as decimal(38, 10)) as fx_rate
    from invoices
    left join customers using (customer_id)
    left join fx using (currency)
),

-- Open AR and aging on the run date --------------------------------------------------------------
ar as (
    select
        {{ kpi_group_keys() }},
        {{ native_sum('amount_open') }} as ar_total,
        {{ native_sum("case when aging_bucket = 'current' then amount_open else 0 end") }} as ar_current,
        {{ native_sum("case when aging_bucket = '1-30' then amount_open else 0 end") }} as ar_1_30,
        {{ native_sum("case when aging_bucket = '31-60' then amount_open else 0 end") }} as ar_31_60,
        {{ native_sum("case when aging_bucket = '61-90' then amount_open else 0 end") }} as ar_61_90,
        {{ native_sum("case when aging_bucket = '90+' then amount_open else 0 end") }} as ar_90_plus,
        sum(amount_open * fx_rate) as ar_total_rpt,
        sum(case when aging_bucket = 'current' then amount_open * fx_rate else 0 end) as ar_current_rpt,
        sum(case when aging_bucket = '1-30' then amount_open * fx_rate else 0 end) as ar_1_30_rpt,
        sum(case when aging_bucket = '31-60' then amount_open * fx_rate else 0 end) as ar_31_60_rpt,
        sum(case when aging_bucket = '61-90' then amount_open * fx_rate else 0 end) as ar_61_90_rpt,
        sum(case when aging_bucket = '90+' then amount_open * fx_rate else 0 end) as ar_90_plus_rpt,
        count(*) filter (where amount_open > 0) as n_open_invoices,
        count(*) filter (where is_overdue) as n_overdue_invoices,
        count(distinct customer_id) filter (where is_overdue) as n_overdue_customers
    from invoice_base
    group by {{ kpi_grouping_sets() }}
),

-- Credit sales of the DSO period and of the CEI window --------------------------------------------
sales as (
    select
        {{ kpi_group_keys() }},
        {{ native_sum("case when issue_date > " ~ add_days(as_of_date(), -dso_days) ~ " then amount_total else 0 end") }}
            as credit_sales_period,
        sum(case when issue_date > {{ add_days(as_of_date(), -dso_days) }} then amount_total * fx_rate else 0 end)
            as credit_sales_period_rpt,
        {{ native_sum("case when issue_date > " ~ add_days(as_of_date(), -window_days) ~ " then amount_total else 0 end") }}
            as credit_sales_window,
        sum(case when issue_date > {{ add_days(as_of_date(), -window_days) }} then amount_total * fx_rate else 0 end)
            as credit_sales_window_rpt
    from invoice_base
    where issue_date > {{ add_days(as_of_date(), -dso_days) }}
    group by {{ kpi_grouping_sets() }}
),

-- Countback DSO on the run date (macros/dso.sql, the one definition).
monthly_sales as (
    select
        {{ kpi_group_keys() }},
        month_start,
        coalesce({{ native_sum('amount_total') }}, sum(amount_total * fx_rate)) as sales
    from (
        select *, cast(date_trunc('month', issue_date) as date) as month_start
        from invoice_base
    ) as by_month
    group by {{ kpi_grouping_sets('month_start') }}
),

monthly as (
    select
        segment,
        country,
        currency,
        month_start,
        sales,
        {{ countback_month_days('month_start', as_of_date()) | indent(8) }} as days_in_month,
        {{ countback_sales_before('sales', 'segment, country, currency') | indent(8) }} as sales_before
    from monthly_sales
),

countback as (
    select
        monthly.segment,
        monthly.country,
        monthly.currency,
        sum(
            {{ countback_days('ar_basis.ar', 'monthly.sales_before', 'monthly.sales', 'monthly.days_in_month') | indent(12) }}
        ) as dso_countback
    from monthly
    inner join (
        select segment, country, currency, coalesce(ar_total, ar_total_rpt) as ar from ar
    ) as ar_basis
        on monthly.segment = ar_basis.segment
        and monthly.country = ar_basis.country
        and monthly.currency = ar_basis.currency
    where monthly.sales > 0
    group by monthly.segment, monthly.country, monthly.currency
),

-- CEI: opening AR rebuilt from the invoice history as known today --------------------------------
credit_notes_by_window_start as (
    select invoice_id, sum(amount_total) as amount_credited
    from {{ ref('stg_erp__credit_notes') }}
    where status = 'posted' and invoice_id is not null
      and issue_date <= {{ add_days(as_of_date(), -window_days) }}
    group by invoice_id
),

paid_by_window_start as (
    select invoice_id, sum(amount) as amount_paid
    from {{ ref('stg_erp__payment_allocations') }}
    where payment_date <= {{ add_days(as_of_date(), -window_days) }}
      and recorded_date <= {{ as_of_date() }}
    group by invoice_id
),

opening as (
    -- open at the window start: total - credit notes - payments dated by then (a payment the
    -- ERP has not recorded yet counts from its bank value date)
    select
        invoice_base.*,
        greatest(
            invoice_base.amount_total
            - coalesce(credit_notes_by_window_start.amount_credited, 0)
            - coalesce(paid_by_window_start.amount_paid, 0)
            - case when invoice_base.last_payment_date <= {{ add_days(as_of_date(), -window_days) }}
                   then invoice_base.amount_paid_bank_unrecorded else 0 end,
            0
        ) as amount_open_at_start
    from invoice_base
    left join credit_notes_by_window_start using (invoice_id)
    left join paid_by_window_start using (invoice_id)
    where invoice_base.issue_date <= {{ add_days(as_of_date(), -window_days) }}
),

opening_ar as (
    select
        {{ kpi_group_keys() }},
        {{ native_sum('amount_open_at_start') }} as ar_opening,
        sum(amount_open_at_start * fx_rate) as ar_opening_rpt
    from opening
    group by {{ kpi_grouping_sets() }}
),

-- Customer payments (ERP allocations, plus bank payments cash application matched that the ERP has
-- not recorded yet) and outbound contacts ------------------------------------------------------
payments as (
    select
        'erp:' || allocation_id as payment_id,
        customer_id,
        currency,
        payment_date,
        amount
    from {{ ref('stg_erp__payment_allocations') }}
    where recorded_date <= {{ as_of_date() }} and payment_date <= {{ as_of_date() }}
    union all
    select
        'bank:' || bank_txn_id as payment_id,
        customer_id,
        currency,
        value_date as payment_date,
        amount_matched as amount
    from {{ ref('fct_payments') }}
    where not is_recorded_in_erp and amount_matched > 0 and customer_id is not null
),

payments_base as (
    select
        payments.*,
        coalesce(customers.dim_segment, 'unknown') as dim_segment,
        coalesce(customers.dim_country, 'unknown') as dim_country,
        payments.currency as dim_currency,
        cast(fx.fx_rate_to_reporting as decimal(38, 10)) as fx_rate
    from payments
    left join customers using (customer_id)
    left join fx using (currency)
),

interactions as (
    select *, cast(occurred_at as date) as occurred_date
    from {{ ref('fct_interactions') }}
),

outbound_attempts as (
    -- contacts that went out (CRM-logged, or handed to the provider by our outbox)
    select * from interactions
    where direction = 'outbound' and outcome not in ('pending', 'sending', 'failed', 'dead')
),

-- Contact rate and effective contact rate, over customers overdue today --------------------------
overdue_customers as (
    select distinct customer_id, dim_segment, dim_country, dim_currency
    from invoice_base
    where is_overdue
),

contacted as (
    select
        customer_id,
        max(case when direction = 'outbound' and outcome not in ('pending', 'sending', 'failed', 'dead')
                 then 1 else 0 end) as is_contacted,
        max(case when outcome in ('delivered', 'read', 'replied', 'promise_to_pay') or direction = 'inbound'
                 then 1 else 0 end) as is_effective
    from interactions
    where occurred_date > {{ add_days(as_of_date(), -window_days) }} and occurred_date <= {{ as_of_date() }}
    group by customer_id
),

contact_rates as (
    select
        {{ kpi_group_keys() }},
        count(*) filter (where contacted.is_contacted = 1) as n_customers_contacted,
        count(*) filter (where contacted.is_contacted = 1 and contacted.is_effective = 1) as n_customers_contacted_effective
    from overdue_customers
    left join contacted using (customer_id)
    group by {{ kpi_grouping_sets() }}
),

-- Promise-kept rate: promises whose deadline (promised date + grace) has passed ------------------
promises as (
    select
        interactions.interaction_id,
        interactions.customer_id,
        interactions.occurred_date,
        interactions.promised_amount,
        {{ add_days('interactions.promised_date', grace_days) }} as deadline
    from interactions
    where interactions.outcome = 'promise_to_pay'
      and interactions.promised_date is not null
      and {{ add_days('interactions.promised_date', grace_days) }} < {{ as_of_date() }}
      and {{ add_days('interactions.promised_date', grace_days) }} >= {{ add_days(as_of_date(), -dso_days) }}
),

promise_outcomes as (
    select
        promises.interaction_id,
        promises.customer_id,
        coalesce(sum(payments.amount), 0) >= coalesce(promises.promised_amount, 0.01) as is_kept
    from promises
    left join payments
        on payments.customer_id = promises.customer_id
        and payments.payment_date >= promises.occurred_date
        and payments.payment_date <= promises.deadline
    group by promises.interaction_id, promises.customer_id, promises.promised_amount
),

promise_rates as (
    select
        {{ kpi_group_keys() }},
        count(*) as n_promises_due,
        count(*) filter (where is_kept) as n_promises_kept
    from (
        select promise_outcomes.*, customers.dim_segment, customers.dim_country,
               customers.customer_currency as dim_currency
        from promise_outcomes
        inner join customers using (customer_id)
    ) as promise_base
    group by {{ kpi_grouping_sets() }}
),

-- Recovery by channel: payments of the window credited to the latest outbound contact in the
-- recovery_window_days before them (last touch, so no payment counts twice) ------------------------
payment_touches as (
    select
        payments_base.payment_id,
        outbound_attempts.channel,
        row_number() over (
            partition by payments_base.payment_id
            order by outbound_attempts.occurred_at desc, outbound_attempts.interaction_id desc
        ) as touch_rank
    from payments_base
    inner join outbound_attempts
        on outbound_attempts.customer_id = payments_base.customer_id
        and outbound_attempts.occurred_date <= payments_base.payment_date
        and outbound_attempts.occurred_date >= {{ add_days('payments_base.payment_date', -recovery_days) }}
    where payments_base.payment_date > {{ add_days(as_of_date(), -window_days) }}
),

recovery as (
    select
        {{ kpi_group_keys() }},
        sum(amount * fx_rate) as collected_rpt,
        {%- for channel in ['email', 'whatsapp', 'sms', 'call', 'letter'] %}
        sum(case when last_touch.channel = '{{ channel }}' then amount * fx_rate else 0 end) as recovered_{{ channel }}_rpt
        {{- "," if not loop.last }}
        {%- endfor %}
    from payments_base
    left join (
        select payment_id, channel from payment_touches where touch_rank = 1
    ) as last_touch using (payment_id)
    where payments_base.payment_date > {{ add_days(as_of_date(), -window_days) }}
    group by {{ kpi_grouping_sets() }}
),

-- Auto-match rate: share of the bank credit amount of the window that cash application matched
-- (payments have no segment until matched, so only the currency and total levels get one) ---------
auto_match as (
    select
        'all' as segment,
        'all' as country,
        case when grouping(bank.currency) = 1 then 'all' else bank.currency end as currency,
        sum(bank.amount * fx.fx_rate_to_reporting) as bank_credits_rpt,
        sum(case when bank.match_method not in ('unmatched', 'manual') then bank.amount_matched else 0 end
            * fx.fx_rate_to_reporting) as auto_matched_rpt,
        coalesce(
            case when grouping(bank.currency) = 0 then sum(bank.amount) end,
            sum(bank.amount * fx.fx_rate_to_reporting)
        ) as bank_credits_basis,
        coalesce(
            case when grouping(bank.currency) = 0
                 then sum(case when bank.match_method not in ('unmatched', 'manual') then bank.amount_matched else 0 end) end,
            sum(case when bank.match_method not in ('unmatched', 'manual') then bank.amount_matched else 0 end
                * fx.fx_rate_to_reporting)
        ) as auto_matched_basis
    from {{ ref('fct_payments') }} as bank
    left join (
        select currency, cast(fx_rate_to_reporting as decimal(38, 10)) as fx_rate_to_reporting from fx
    ) as fx using (currency)
    where bank.booking_date > {{ add_days(as_of_date(), -window_days) }}
    group by grouping sets ((bank.currency), ())
),

-- Treatment vs control: decided customers whose outcome window has closed, and whether they paid
-- anything within recovery_window_days after the decision -----------------------------------------
experiment as (
    select
        {{ kpi_group_keys() }},
        count(*) filter (where arm = 'treatment') as n_customers_treatment,
        count(*) filter (where arm = 'control') as n_customers_control,
        count(*) filter (where arm = 'treatment' and has_paid) as n_paid_treatment,
        count(*) filter (where arm = 'control' and has_paid) as n_paid_control
    from (
        select
            decided.customer_id,
            decided.arm,
            customers.dim_segment,
            customers.dim_country,
            customers.customer_currency as dim_currency,
            exists (
                select 1 from payments
                where payments.customer_id = decided.customer_id
                  and payments.payment_date > decided.decision_date
                  and payments.payment_date <= {{ add_days('decided.decision_date', recovery_days) }}
            ) as has_paid
        from (
            select distinct customer_id, decision_date, arm
            from {{ ref('stg_decisions__nba_decisions') }}
            where arm is not null
              and decision_date <= {{ add_days(as_of_date(), -recovery_days) }}
              and decision_date > {{ add_days(as_of_date(), -(recovery_days + window_days)) }}
        ) as decided
        inner join customers using (customer_id)
    ) as experiment_base
    group by {{ kpi_grouping_sets() }}
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        ar.segment,
        ar.country,
        ar.currency,
        {{ reporting_currency() }} as reporting_currency,
        fx.fx_rate_to_reporting,
        cast(ar.ar_total as decimal(38, 2)) as ar_total,
        cast(ar.ar_current as decimal(38, 2)) as ar_current,
        cast(ar.ar_1_30 as decimal(38, 2)) as ar_1_30,
        cast(ar.ar_31_60 as decimal(38, 2)) as ar_31_60,
        cast(ar.ar_61_90 as decimal(38, 2)) as ar_61_90,
        cast(ar.ar_90_plus as decimal(38, 2)) as ar_90_plus,
        cast(ar.ar_total - ar.ar_current as decimal(38, 2)) as ar_overdue,
        coalesce({{ safe_ratio('coalesce(ar.ar_total, ar.ar_total_rpt) - coalesce(ar.ar_current, ar.ar_current_rpt)', 'coalesce(ar.ar_total, ar.ar_total_rpt)') }}, 0)
            as pct_overdue,
        cast(ar.n_open_invoices as bigint) as n_open_invoices,
        cast(ar.n_overdue_invoices as bigint) as n_overdue_invoices,
        cast(ar.n_overdue_customers as bigint) as n_overdue_customers,
        cast(case when ar.currency <> 'all' then coalesce(sales.credit_sales_period, 0) end as decimal(38, 2))
            as credit_sales_period,
        {{ safe_ratio('coalesce(ar.ar_total, ar.ar_total_rpt)', 'coalesce(sales.credit_sales_period, sales.credit_sales_period_rpt)', dso_days) }}
            as dso_standard,
        cast(countback.dso_countback as {{ type_double() }}) as dso_countback,
        {{ safe_ratio('coalesce(ar.ar_current, ar.ar_current_rpt)', 'coalesce(sales.credit_sales_period, sales.credit_sales_period_rpt)', dso_days) }}
            as dso_best_possible,
        {{ safe_ratio('coalesce(ar.ar_total, ar.ar_total_rpt) - coalesce(ar.ar_current, ar.ar_current_rpt)', 'coalesce(sales.credit_sales_period, sales.credit_sales_period_rpt)', dso_days) }}
            as avg_days_delinquent,
        {{ to_reporting('ar.ar_total_rpt', 1) }} as ar_total_reporting,
        {{ to_reporting('ar.ar_current_rpt', 1) }} as ar_current_reporting,
        {{ to_reporting('ar.ar_1_30_rpt', 1) }} as ar_1_30_reporting,
        {{ to_reporting('ar.ar_31_60_rpt', 1) }} as ar_31_60_reporting,
        {{ to_reporting('ar.ar_61_90_rpt', 1) }} as ar_61_90_reporting,
        {{ to_reporting('ar.ar_90_plus_rpt', 1) }} as ar_90_plus_reporting,
        {{ to_reporting('ar.ar_total_rpt - ar.ar_current_rpt', 1) }} as ar_overdue_reporting,
        {{ to_reporting('coalesce(sales.credit_sales_period_rpt, 0)', 1) }} as credit_sales_period_reporting,
        {{ to_reporting('coalesce(opening_ar.ar_opening_rpt, 0)', 1) }} as ar_opening_window_reporting,
        {{ to_reporting('coalesce(sales.credit_sales_window_rpt, 0)', 1) }} as credit_sales_window_reporting,
        {{ safe_ratio(
            'coalesce(opening_ar.ar_opening, opening_ar.ar_opening_rpt, 0) + coalesce(sales.credit_sales_window, sales.credit_sales_window_rpt, 0) - coalesce(ar.ar_total, ar.ar_total_rpt)',
            'coalesce(opening_ar.ar_opening, opening_ar.ar_opening_rpt, 0) + coalesce(sales.credit_sales_window, sales.credit_sales_window_rpt, 0) - coalesce(ar.ar_current, ar.ar_current_rpt)',
            100) }} as cei_30d,
        cast(coalesce(contact_rates.n_customers_contacted, 0) as bigint) as n_customers_contacted,
        cast(coalesce(contact_rates.n_customers_contacted_effective, 0) as bigint) as n_customers_contacted_effective,
        {{ safe_ratio('contact_rates.n_customers_contacted', 'ar.n_overdue_customers') }} as contact_rate,
        {{ safe_ratio('contact_rates.n_customers_contacted_effective', 'ar.n_overdue_customers') }} as effective_contact_rate,
        cast(coalesce(promise_rates.n_promises_due, 0) as bigint) as n_promises_due,
        cast(coalesce(promise_rates.n_promises_kept, 0) as bigint) as n_promises_kept,
        {{ safe_ratio('promise_rates.n_promises_kept', 'promise_rates.n_promises_due') }} as promise_kept_rate,
        {{ to_reporting('coalesce(recovery.collected_rpt, 0)', 1) }} as collected_window_reporting,
        {%- for channel in ['email', 'whatsapp', 'sms', 'call', 'letter'] %}
        {{ to_reporting('coalesce(recovery.recovered_' ~ channel ~ '_rpt, 0)', 1) }} as recovered_{{ channel }}_reporting,
        {%- endfor %}
        {{ to_reporting('auto_match.bank_credits_rpt', 1) }} as bank_credits_window_reporting,
        {{ to_reporting('auto_match.auto_matched_rpt', 1) }} as auto_matched_window_reporting,
        {{ safe_ratio('auto_match.auto_matched_basis', 'auto_match.bank_credits_basis') }} as auto_match_rate,
        cast(coalesce(experiment.n_customers_treatment, 0) as bigint) as n_customers_treatment,
        cast(coalesce(experiment.n_customers_control, 0) as bigint) as n_customers_control,
        {{ safe_ratio('experiment.n_paid_treatment', 'experiment.n_customers_treatment') }} as paid_rate_treatment,
        {{ safe_ratio('experiment.n_paid_control', 'experiment.n_customers_control') }} as paid_rate_control
    from ar
    left join fx on fx.currency = ar.currency
    {%- for cte in ['sales', 'countback', 'opening_ar', 'contact_rates', 'promise_rates', 'recovery', 'auto_match', 'experiment'] %}
    left join {{ cte }}
        on {{ cte }}.segment = ar.segment and {{ cte }}.country = ar.country and {{ cte }}.currency = ar.currency
    {%- endfor %}
)

select * from final
