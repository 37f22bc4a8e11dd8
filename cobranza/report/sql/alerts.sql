-- Early-warning alerts (marts.mart_alerts) raised in the KPI window or still open, one row per alert:
-- the report counts them by signal and severity and lists the open high ones for the reader.
select
    alert_id,
    signal,
    severity,
    customer_id,
    raised_on,
    status,
    is_open,
    amount,
    currency,
    description
from marts.mart_alerts
where (raised_on > cast($as_of as date) - $window_days and raised_on <= $as_of) or is_open
order by case severity when 'high' then 0 when 'medium' then 1 else 2 end, raised_on desc, alert_id
