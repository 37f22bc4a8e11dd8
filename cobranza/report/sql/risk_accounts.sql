-- Expected loss per customer in scope on the latest scoring date up to the run date, with the
-- customer's next-best action of the day: marts.mart_risk_accounts (dbt) defines it.
select
    customer_id,
    customer_name,
    segment,
    country,
    currency,
    scored_on,
    model_version,
    n_open_invoices,
    amount_open_reporting as amount_open_rpt,
    amount_overdue_reporting as amount_overdue_rpt,
    max_days_past_due,
    expected_loss_reporting as expected_loss_rpt,
    risk_weighted,
    action_today,
    channel_today,
    reason_codes_today
from marts.mart_risk_accounts
where ($segment is null or segment = $segment)
  and ($country is null or country = $country)
order by expected_loss_rpt desc, customer_id
