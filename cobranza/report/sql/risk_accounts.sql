-- Expected loss per customer in scope on the latest scoring date up to the run date: for each open
-- invoice, the champion's probability of paying late (ml_scores.invoice_scores) x its open amount
-- in the reporting currency; summed per customer, with the customer's aging and the model version
-- that scored it.
with score_date as (
    select max(as_of_date) as scored_on
    from ml_scores.invoice_scores
    where as_of_date <= $as_of
),

fx as (
    select currency, cast(fx_rate_to_reporting as double) as fx_rate
    from marts.mart_collections_kpis
    where segment = 'all' and country = 'all' and currency <> 'all'
),

scored as (
    select
        scores.customer_id,
        scores.invoice_id,
        scores.risk_score,
        scores.model_version,
        cast(inv.amount_open as double) * fx.fx_rate as amount_open_rpt,
        inv.days_past_due
    from ml_scores.invoice_scores as scores
    inner join score_date on scores.as_of_date = score_date.scored_on
    inner join marts.fct_invoices as inv using (invoice_id)
    inner join fx on fx.currency = inv.currency
    where inv.amount_open > 0
),

final as (
    select
        customers.customer_id,
        customers.customer_name,
        customers.segment,
        customers.country,
        customers.currency,
        (select scored_on from score_date) as scored_on,
        max(scored.model_version) as model_version,
        count(*) as n_open_invoices,
        sum(scored.amount_open_rpt) as amount_open_rpt,
        sum(case when scored.days_past_due > 0 then scored.amount_open_rpt else 0 end) as amount_overdue_rpt,
        max(scored.days_past_due) as max_days_past_due,
        sum(scored.risk_score * scored.amount_open_rpt) as expected_loss_rpt,
        sum(scored.risk_score * scored.amount_open_rpt) / nullif(sum(scored.amount_open_rpt), 0) as risk_weighted
    from scored
    inner join marts.dim_customers as customers using (customer_id)
    where ($segment is null or customers.segment = $segment)
      and ($country is null or customers.country = $country)
    group by all
)

select * from final
order by expected_loss_rpt desc, customer_id
