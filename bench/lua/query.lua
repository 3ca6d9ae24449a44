-- Query one random partition key of the range table: 10 items.
local common = require "common"
common.install("Query", function()
  return '{"TableName":"' .. common.opts.range_table .. '",' ..
    '"KeyConditionExpression":"pk = :pk",' ..
    '"ExpressionAttributeValues":{":pk":{"S":"' ..
    string.format("p%06d", math.random(0, common.opts.pks - 1)) .. '"}}}'
end)
