-- Contact performance per channel over the KPI window (the $window_days days up to the run date),
-- for the customers in scope: outbound attempts that went out, customers contacted, those of them
-- with an effective contact on that channel (same outcomes as the KPI mart: delivered, read,
-- replied, promise to pay, or an inbound message), bounces, replies and promises to pay.
with customers as (
    select customer_id
    from marts.dim_customers
    where ($segment is null or segment = $segment)
      and ($country is null or country = $country)
),

interactions as (
    select interactions.*
    from marts.fct_interactions as interactions
    inner join customers using (customer_id)
    where cast(interactions.occurred_at as date) > cast($as_of as date) - $window_days
      and cast(interactions.occurred_at as date) <= $as_of
),

per_customer as (
    select
        channel,
        customer_id,
        count(*) filter (
            where direction = 'outbound' and outcome not in ('pending', 'sending', 'failed', 'dead')
        ) as n_attempts,
        count(*) filter (where direction = 'outbound' and outcome = 'bounced') as n_bounced,
        count(*) filter (where outcome = 'replied' or direction = 'inbound') as n_replies,
        count(*) filter (where outcome = 'promise_to_pay') as n_promises,
        bool_or(outcome in ('delivered', 'read', 'replied', 'promise_to_pay') or direction = 'inbound') as is_effective
    from interactions
    group by channel, customer_id
),

final as (
    select
        channel,
        sum(n_attempts) as n_attempts,
        count(*) filter (where n_attempts > 0) as n_customers_contacted,
        count(*) filter (where n_attempts > 0 and is_effective) as n_customers_effective,
        sum(n_bounced) as n_bounced,
        sum(n_replies) as n_replies,
        sum(n_promises) as n_promises
    from per_customer
    group by channel
)

select
    channel,
    cast(n_attempts as bigint) as n_attempts,
    n_customers_contacted,
    n_customers_effective,
    cast(n_bounced as bigint) as n_bounced,
    cast(n_replies as bigint) as n_replies,
    cast(n_promises as bigint) as n_promises,
    n_customers_effective / nullif(n_customers_contacted, 0) as effective_contact_rate,
    n_promises / nullif(n_attempts, 0) as promise_rate,
    n_bounced / nullif(n_attempts, 0) as bounce_rate
from final
where n_attempts > 0
order by channel
