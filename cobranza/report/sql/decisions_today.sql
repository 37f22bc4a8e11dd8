-- Today's next-best-action per customer (decisions.nba_decisions, written by the decide stage):
-- the action, its channel and the reason codes, to show next to the accounts that matter most.
select
    customer_id,
    any_value(action) as action_today,
    any_value(channel) as channel_today,
    any_value(cast(reason_codes as varchar)) as reason_codes_today
from decisions.nba_decisions
where as_of_date = $as_of
group by customer_id
